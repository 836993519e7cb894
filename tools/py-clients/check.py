"""Drive a running InnerArianna service with the official Python clients
(openai, ollama) the way applications do, and print one JSON object of what
came back; test/py-clients.test.ts asserts on it.

    tools/py-clients/.venv/bin/python tools/py-clients/check.py http://127.0.0.1:8080
"""
import json
import sys

import ollama
import openai

url = sys.argv[1]
out = {}

o = ollama.Client(host=url)
out["ollama_list"] = [m.model for m in o.list().models]
show = o.show("arianna")
out["ollama_show_context"] = show.modelinfo.get("llama.context_length")
out["ollama_show_capabilities"] = list(show.capabilities or [])
out["ollama_ps"] = [m.model for m in o.ps().models]
out["ollama_load"] = o.chat(model="arianna", messages=[]).done_reason
out["ollama_unload"] = o.generate(model="arianna", prompt="", keep_alive=0).done_reason
chat = o.chat(model="arianna", messages=[{"role": "user", "content": "hello from python"}], options={"num_predict": 6})
out["ollama_chat"] = {"text": chat.message.content, "done_reason": chat.done_reason, "eval_count": chat.eval_count}
streamed = "".join(part.message.content for part in o.chat(model="arianna", stream=True, messages=[{"role": "user", "content": "and again"}]))
out["ollama_chat_streamed"] = streamed
gen = o.generate(model="arianna", prompt="the sea", options={"num_predict": 5, "seed": 1})
out["ollama_generate"] = {"eval_count": gen.eval_count, "done_reason": gen.done_reason}
emb = o.embed(model="arianna", input=["the river", "the sea"])
out["ollama_embed"] = [len(e) for e in emb.embeddings]
try:
    o.show("llama3")
    out["ollama_show_missing"] = None
except ollama.ResponseError as e:
    out["ollama_show_missing"] = {"status": e.status_code, "error": e.error}

c = openai.OpenAI(base_url=url + "/v1", api_key="unused-on-loopback", max_retries=0)
out["openai_models"] = [m.id for m in c.models.list().data]
out["openai_retrieve"] = c.models.retrieve("arianna").id
r = c.chat.completions.create(model="arianna", messages=[{"role": "user", "content": "a python question"}], max_tokens=4, stop=["zz"])
out["openai_chat"] = {"text": r.choices[0].message.content, "finish_reason": r.choices[0].finish_reason, "completion_tokens": r.usage.completion_tokens}
text = ""
for chunk in c.chat.completions.create(model="arianna", stream=True, messages=[{"role": "user", "content": "stream it"}]):
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
out["openai_chat_streamed"] = text
out["openai_completion_tokens"] = c.completions.create(model="arianna", prompt="once", max_tokens=3).usage.completion_tokens
e = c.embeddings.create(model="arianna", input=["the river", "the sea"])
out["openai_embeddings"] = [len(d.embedding) for d in e.data]
try:
    c.chat.completions.create(model="arianna", messages=[{"role": "user", "content": "x"}], temperature=9)
    out["openai_error"] = None
except openai.BadRequestError as err:
    out["openai_error"] = {"status": err.status_code, "message": str(err), "param": (err.body or {}).get("param")}

print(json.dumps(out))
