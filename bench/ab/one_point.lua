wrk.method = "POST"
wrk.body = '{"expression": "0.01*x**2 + 0.1*x", "points": [5.0]}'
wrk.headers["Content-Type"] = "application/json"
