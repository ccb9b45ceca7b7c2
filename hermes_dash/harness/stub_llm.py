"""Scripted OpenAI-compatible LLM stub on 127.0.0.1 (stdlib only). python stub_llm.py PORTFILE
Turn script (stateless, decided from the request): no tool result yet -> call `todo`
and `read_file`; 2 tool results -> read_file on a missing file (tool error); else final text.
POST /_control {"mode":"ok"|"429"|"500", "fail_count":N, "delay":s} injects failures; {"usage": {...}} sets the
usage every answer reports (OpenAI shape: prompt_tokens_details, completion_tokens_details), null the default;
{"script":"serial"} calls the same three tools one per answer (todo, read_file, read_file on a missing
file; no tool_delay between them), then answers."""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mode": "ok", "fail_count": 0, "delay": 0, "n": 0, "usage": None, "script": "tools"}
USAGE = {"prompt_tokens": 111, "completion_tokens": 22, "total_tokens": 133,
         "prompt_tokens_details": {"cached_tokens": 10}}
MODELS = {"object": "list", "data": [{"id": "stub-model", "object": "model", "owned_by": "stub",
          "context_length": 128000,  # per-token USD prices, read by Hermes' cost estimator
          "pricing": {"prompt": "0.000001", "completion": "0.000002", "cache_read": "0.0000005"}}]}


SERIAL = [("todo", {"todos": [{"id": "1", "content": "x", "status": "in_progress"}]}),
          ("read_file", {"path": "/etc/hostname"}), ("read_file", {"path": "/nonexistent/missing.txt"})]


def plan(msgs):
    n_tool = 0
    for m in reversed(msgs):
        if m.get("role") == "user":
            break
        n_tool += m.get("role") == "tool"
    if STATE["script"] == "serial":
        return ("All done: stub final answer.", None) if n_tool >= len(SERIAL) else (None, [SERIAL[n_tool]])
    if n_tool == 0:
        return None, [("todo", {"todos": [{"id": "1", "content": "x", "status": "in_progress"}]}),
                      ("read_file", {"path": "/etc/hostname"})]
    if n_tool == 2:
        return None, [("read_file", {"path": "/nonexistent/missing.txt"})]
    return "All done: stub final answer.", None


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_message = lambda *a: None

    def _send(self, code, obj, ctype="application/json"):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # exact paths only: Hermes probes /api/v1/models, /api/tags, /props ...
        if self.path.split("?")[0].rstrip("/") in ("/v1/models", "/models"):
            return self._send(200, MODELS)
        self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/_control":
            STATE.update(req)
            return self._send(200, STATE)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return self._send(404, {"error": {"message": "not found"}})
        STATE["n"] += 1
        mode = STATE["mode"]
        if STATE["fail_count"] > 0:
            STATE["fail_count"] -= 1
            mode = "500"
        if mode != "ok":
            return self._send(int(mode), {"error": {"message": f"stub {mode}", "type": "stub"}})
        time.sleep(float(STATE["delay"]))
        text, calls = plan(req.get("messages") or [])
        tcs = [{"index": i, "id": f"call_{STATE['n']}_{i}", "type": "function",
                "function": {"name": n, "arguments": json.dumps(a)}} for i, (n, a) in enumerate(calls or [])]
        finish = "tool_calls" if tcs else "stop"
        base = {"id": f"chatcmpl-{STATE['n']}", "created": int(time.time()), "model": req.get("model")}
        if not req.get("stream"):  # Hermes streams by default; kept for completeness
            msg = {"role": "assistant", "content": text}
            if tcs:
                msg["tool_calls"] = [{k: v for k, v in t.items() if k != "index"} for t in tcs]
            return self._send(200, dict(base, object="chat.completion", usage=STATE["usage"] or USAGE,
                                        choices=[{"index": 0, "message": msg, "finish_reason": finish}]))
        deltas = [{"role": "assistant", "content": text or ""}] + ([{"tool_calls": tcs}] if tcs else [])
        chunks = [dict(base, object="chat.completion.chunk",
                       choices=[{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
        chunks.append(dict(base, object="chat.completion.chunk",
                           choices=[{"index": 0, "delta": {}, "finish_reason": finish}]))
        if (req.get("stream_options") or {}).get("include_usage"):
            chunks.append(dict(base, object="chat.completion.chunk", choices=[], usage=STATE["usage"] or USAGE))
        sse = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        self._send(200, sse, "text/event-stream")


if __name__ == "__main__":
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()
