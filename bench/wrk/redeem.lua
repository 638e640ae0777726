-- wrk script: POST /api/invites/redeem with a fresh e-mail on every request,
-- spread over the codes listed one per line in the file named by CODES
-- (default codes.txt). Codes should be multi-use so that every request is a
-- real redemption: issue them with max_uses >= requests / codes.
--
--   wrk -t1 -c64 -d10s -s bench/wrk/redeem.lua http://127.0.0.1:8080
--
-- Prints the answers by status at the end, so a run that hit 409s or 503s
-- is visible.

local codes = {}
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    thread_id = id
    statuses = {}
    for line in io.lines(os.getenv("CODES") or "codes.txt") do
        if #line > 0 then
            table.insert(codes, line)
        end
    end
end

function request()
    counter = counter + 1
    local code = codes[(counter % #codes) + 1]
    local body = string.format('{"code":"%s","email":"load-%d-%d@example.com"}', code, thread_id, counter)
    return wrk.format("POST", "/api/invites/redeem", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    for _, thread in ipairs(threads) do
        local s = thread:get("statuses")
        for status, n in pairs(s) do
            io.write(string.format("status %d: %d\n", status, n))
        end
    end
end
