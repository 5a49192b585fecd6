-- POST the JSON body in the file named by the environment variable NABLA_BODY.
local file = assert(io.open(os.getenv("NABLA_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
