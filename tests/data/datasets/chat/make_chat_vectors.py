#!/usr/bin/env python3
"""Renders the chat templates of tests/data/datasets/chat/*/tokenizer_config.json (and the Qwen3
fixture's) with Jinja2, the way transformers' apply_chat_template(tokenize=False) does, and writes
the results to vectors.json for tests/text/test_dataset_chat.cpp.

transformers renders with jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True), the loopcontrols extension, a `raise_exception` global and the tokenizer's
special tokens (bos_token, eos_token, ...) as variables (transformers/utils/chat_template_utils.py).
Usage: python3 make_chat_vectors.py   (needs jinja2; run from anywhere)
"""
import json
import os

import jinja2
import jinja2.ext
import jinja2.sandbox

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "..", "shared", "fixtures"))

# LLM Compressor's fallback template ([LC] src/llmcompressor/transformers/data/ultrachat_200k.py,
# UltraChatDataset.DEFAULT_CHAT_TEMPLATE), used when a tokenizer has none.
LLMCOMPRESSOR_DEFAULT = (
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)

CONVERSATIONS = {
    "three": [
        {"role": "system", "content": "You are a storyteller."},
        {"role": "user", "content": "Tell me about a cat."},
        {"role": "assistant", "content": "The cat sat on the mat."},
    ],
    "no_system": [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "Count to three."},
        {"role": "assistant", "content": "One, two, three."},
    ],
    "whitespace": [
        {"role": "system", "content": "  Be brief.  "},
        {"role": "user", "content": "\n Hi there \t"},
        {"role": "assistant", "content": " Hello! \n"},
    ],
    "unicode_space": [
        {"role": "user", "content": "\u00a0Gr\u00fc\u00dfe \U0001F30D \u2014 ok\u00a0"},
        {"role": "assistant", "content": "\u3000\u5168\u89d2\u3000\u2028"},
    ],
    "empty_system": [
        {"role": "system", "content": ""},
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": "Rayleigh scattering."},
    ],
    "think": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think>\nTwo plus two.\n</think>\n\nIt is 4."},
    ],
    "think_multi": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "<think>\n\nadd again\n\n</think>\n\n\n6"},
    ],
    "reasoning_field": [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue.", "reasoning_content": "\nAny colour works.\n"},
    ],
    "user_only": [
        {"role": "user", "content": "Write a haiku."},
    ],
    "two_users": [
        {"role": "user", "content": "First."},
        {"role": "user", "content": "Second."},
    ],
}


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def environment():
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, indent=None, **kw: json.dumps(x, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    return env


def templates():
    out = {}
    for name in sorted(os.listdir(HERE)):
        path = os.path.join(HERE, name, "tokenizer_config.json")
        if os.path.isfile(path) and not name.startswith("unknown_"):
            out[name] = json.load(open(path, encoding="utf-8"))
    out["qwen3"] = json.load(open(os.path.join(FIXTURES, "tokenizers", "qwen3", "tokenizer_config.json"), encoding="utf-8"))
    out["llmcompressor_default"] = {"bos_token": "<s>", "eos_token": "</s>", "chat_template": LLMCOMPRESSOR_DEFAULT}
    return out


def main():
    env = environment()
    cases = []
    for name, cfg in templates().items():
        tmpl = env.from_string(cfg["chat_template"])
        for conv_name, conv in CONVERSATIONS.items():
            for gen in (False, True):
                case = {"template": name, "conversation": conv_name, "add_generation_prompt": gen}
                try:
                    case["text"] = tmpl.render(messages=conv, add_generation_prompt=gen,
                                               bos_token=cfg.get("bos_token"), eos_token=cfg.get("eos_token"))
                except TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
    with open(os.path.join(HERE, "vectors.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "make_chat_vectors.py, jinja2 " + jinja2.__version__,
                   "conversations": CONVERSATIONS, "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
