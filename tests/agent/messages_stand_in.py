#!/usr/bin/env python3
"""A local stand-in of the Anthropic Messages API for the real Claude Code CLI.

It answers every request that offers tools with the next Bash tool call of its plan (one per
tool_result received so far), then with a closing text; requests without tools get a short
text. Answers are streamed (SSE) when the request asks for it, plain JSON otherwise. Every
request body is appended to the record file, one JSON document per line.

Usage: messages_stand_in.py PORT_FILE RECORD_FILE COMMAND...
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT_FILE, RECORD, PLAN = sys.argv[1], sys.argv[2], sys.argv[3:]


def tool_results(body):
    n = 0
    for m in body.get("messages", []):
        content = m.get("content")
        if isinstance(content, list):
            n += sum(1 for c in content if isinstance(c, dict) and c.get("type") == "tool_result")
    return n


def answer(body):
    model = body.get("model", "stand-in")
    if body.get("tools"):
        k = tool_results(body)
        if k < len(PLAN):
            block = {"type": "tool_use", "id": f"toolu_{k:04d}", "name": "Bash",
                     "input": {"command": PLAN[k], "description": f"step {k}"}}
            return model, block, "tool_use"
        return model, {"type": "text", "text": "All steps tried."}, "end_turn"
    return model, {"type": "text", "text": "Stand-in."}, "end_turn"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        self.do_HEAD()

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        with open(RECORD, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        if "/messages/count_tokens" in self.path:
            return self.send_json({"input_tokens": 10})
        if "/messages" not in self.path:
            return self.send_json({})
        model, block, stop = answer(body)
        msg = {"id": "msg_stand_in", "type": "message", "role": "assistant", "model": model,
               "content": [block], "stop_reason": stop, "stop_sequence": None,
               "usage": {"input_tokens": 10, "output_tokens": 10}}
        if not body.get("stream"):
            return self.send_json(msg)
        events = [("message_start", {"type": "message_start", "message": {**msg, "content": [],
                   "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 1}}})]
        if block["type"] == "tool_use":
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": 10}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        data = "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events)
        self.send("text/event-stream", data.encode())

    def send_json(self, obj):
        self.send("application/json", json.dumps(obj).encode())

    def send(self, content_type, data):
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("request-id", "req_stand_in")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
