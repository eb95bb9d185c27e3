#!/usr/bin/env python3
"""Regenerates tests/data/tokenizer/vectors_<name>.jsonl with the real Hugging Face `tokenizers`.

Usage (from the repository root, with `pip install tokenizers`):
    python3 tests/text/make_tokenizer_vectors.py [--fixtures ../shared/fixtures] [--out tests/data/tokenizer]

For each tokenizer.json (the stories260k fixture model, the Llama 2 and the Qwen3 production
tokenizers) it writes one JSON object per line:
  {"kind": "meta", ...}                     provenance: tokenizers version, source file and sha256
  {"kind": "encode", "source": ..., "text": ..., "ids": [...], "ids_special": [...],
   "decoded": ..., "decoded_skip": ..., ["ids_split_special": [...]]}
      ids         = encode(text, add_special_tokens=False).ids
      ids_special = encode(text, add_special_tokens=True).ids
      decoded     = decode(ids_special, skip_special_tokens=False)
      decoded_skip= decode(ids_special, skip_special_tokens=True)
      ids_split_special (edge cases only) = ids with tokenizer.encode_special_tokens = True,
      i.e. special-token strings in the text are tokenized as ordinary text.
  {"kind": "encode", "source": "invalid_utf8", "bytes_hex": ..., "text": <lossy decode>, ...}
      llmc's policy for input that is not valid UTF-8 (the Python library only accepts str):
      every maximal ill-formed subsequence becomes one U+FFFD, exactly as
      bytes.decode("utf-8", errors="replace") does. The vector stores the raw bytes (hex) and the
      ids of the lossy-decoded text, so the C++ side must reproduce the replacement itself.
  {"kind": "decode", "ids": [...], "decoded": ..., "decoded_skip": ...}
      seeded random id sequences, to test the decoder chains (byte fallback of partial UTF-8,
      byte-level fragments, special tokens) independently of encode.
The text lines come from the shared fixtures calibration.txt and wikitext2_test.txt (an even
sample of lines of at most MAX_LINE characters), plus the hand-written Unicode edge cases below.

It also writes, for the pipeline features the three real files do not use:
  synthetic_<name>.json + vectors_synthetic_<name>.jsonl: small BPE tokenizers trained here on the
      fixture text with the `tokenizers` trainer (training is not bit-for-bit repeatable, so a rerun
      rewrites each .json together with its vectors; the committed pair is what the C++ test
      loads), with Metaspace, Digits, Split behaviours and invert, WhitespaceSplit, ByteLevel
      with the GPT-2 regex, NFKC / Strip / Replace normalizers, BPE prefix/suffix/ignore_merges,
      BPEDecoder / Metaspace decoders, Bert / Template / Sequence post-processors and added tokens
      with lstrip / rstrip / single_word / normalized.
  vectors_whole_files.jsonl: each fixture text file encoded whole (add_special_tokens=True) by each
      real tokenizer: the token count and the FNV-1a 64-bit hash of the ids as little-endian int32.
  vectors_regex_classes.jsonl: for regex character classes (\s, \w, \p{L}, ...), the code points
      Oniguruma (through tokenizers' Split) matches, restricted to the code points assigned in the
      Unicode version of this Python (the C++ side's PCRE2 may be on another Unicode version).
"""
import argparse
import hashlib
import json
import os
import random
import sys
import unicodedata

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

TOKENIZERS = {
    "stories260k": "models/stories260k/tokenizer.json",
    "llama2": "tokenizers/llama2/tokenizer.json",
    "qwen3": "tokenizers/qwen3/tokenizer.json",
}
LINES_PER_FILE = 70
MAX_LINE = 400
RANDOM_DECODES = 30

EDGE_CASES = [
    # empty and whitespace
    "", " ", "  ", "   ", "\t", "\n", "\n\n\n", "\r\n", " \n ", "a  b", "a   b", "a\tb", "a\t\tb",
    "\t\tindented with tabs", "    four spaces", " leading space", "trailing space ", "  both  ",
    "line1\nline2\r\nline3\rline4", "ends with newline\n", "x \n\n y", "spaces then newline   \n",
    "\u00a0non-breaking\u00a0space", "ideographic\u3000space", "line\u2028separator", "next\u0085line",
    "vertical\x0btab\x0cformfeed", "file\x1cgroup\x1drecord\x1eunit\x1fseparators",
    "mongolian\u180evowel\u180eseparator", "zero\u200bwidth\u200bspace", "bom\ufeffinside",
    # contractions and apostrophes
    "I'm sure it's fine, they're here, we've done it, I'll go, he'd say, don't.",
    "IT'S DON'T THEY'RE WE'VE I'LL HE'D I'M", "rock 'n' roll 'tis 'twas", "it\u2019s curly",
    "'s 't 're 've 'm 'll 'd", "O'Neil's dog's bone", "ſ 'ſ 'K 'k",
    # digits
    "1234567890", "3.14159265358979", "1,000,000 and 1_000", "call 555-0123 at 10:30pm",
    "\u0663\u0664\u0665 Arabic-Indic digits", "\u2460\u2461\u2462 circled", "\u216b \u2167 roman", "\u00bd \u00be fractions",
    "x2y3z4", "v1.2.3-rc4", "0x1F 0b1010 1e-5",
    # emoji
    "Hello \U0001F44B world", "\U0001F469\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 family",
    "\U0001F44D\U0001F3FD thumbs up medium skin", "\U0001F1EB\U0001F1F7 \U0001F1EF\U0001F1F5 flags",
    "\u2764\ufe0f heart with VS16", "\U0001F600\U0001F601\U0001F602\U0001F923", "\U0001F9D1\U0001F3FF\u200d\U0001F680 astronaut",
    # CJK and other scripts
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5", "\U00020000\U0002A6D6 supplementary CJK",
    "\U0001D518\U0001D52B\U0001D526 math letters", "mixed English\u4e2d\u6587text\u65e5\u672c",
    # combining marks: NFC and NFD spellings of the same text
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9", "cafe\u0301 nai\u0308ve re\u0301sume\u0301",
    "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m", "\u212b Angstrom sign", "\u2126 Ohm sign",
    "Ti\u1ebfng Vi\u1ec7t", "Tie\u0302\u0301ng Vie\u0323\u0302t", "\u1100\u1161\u11a8 Hangul jamo",
    "\u0301starts with a combining mark", "e\u0301\u0301\u0301 stacked", "\u1e31\u0337 k acute slash",
    "\ufb01 ligature", "\u00df stra\u00dfe", "\u00dcn\u00efc\u00f6d\u00e9",
    # special-token strings inside text
    "<s>Hello</s>", "Hello <s> world </s> again", "<s><s></s>", "<<s>>", "<unk> token", "<s", "s>",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>",
    "text<|endoftext|>more", "<think>\nhmm\n</think>\n\nanswer", "<|im_start", "<|im_end|><|im_end|>",
    "<0x41> literal byte token", "\u2581 lower one eighth block \u2581\u2581",
    # code, markup, misc
    "def f(x):\n    return x ** 2  # square\n", "if (a && b) { c++; } else { d--; }",
    "https://example.com/path?q=1&r=two#frag", "user.name+tag@example.org",
    "<html><body class=\"x\">Hi</body></html>", "$$\\frac{a}{b}$$ and \\(x^2\\)",
    "control\x00nul\x01soh\x7fdel", "private\ue000use", "\u00e2\u20ac\u2122 mojibake \u00e2\u20ac\u0153",
    "pneumonoultramicroscopicsilicovolcanoconiosis", "a" * 300, "ab " * 120,
    "!!!???...,,,;;;", "--- *** ___ ===", "\"quoted\" and 'single'",
]

# Raw byte strings that are not valid UTF-8: each is encoded after a lossy UTF-8 decode.
INVALID_UTF8 = [
    b"abc\xff", b"\xc3\x28 bad continuation", b"truncated \xe2\x82", b"\xed\xa0\x80 surrogate",
    b"\xf0\x9f\x98 cut emoji", b"\xc0\xaf overlong", b"\xf4\x90\x80\x80 above U+10FFFF",
    b"\x80\x80 lone continuations", b"\xfe\xff", b"mixed \xe4\xb8\x96\xe7 end\xe7\x95",
    b"<s>\xff</s>", b"\xe0\x80\x80 overlong 3", b"\xf8\x88\x80\x80\x80 five bytes",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def sample_lines(path, count):
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f.read().split("\n") if ln.strip() and len(ln) <= MAX_LINE]
    step = max(1, len(lines) // count)
    return lines[::step][:count]


def encode_record(tok, text, source, split_special=False):
    ids = tok.encode(text, add_special_tokens=False).ids
    ids_special = tok.encode(text, add_special_tokens=True).ids
    rec = {
        "kind": "encode",
        "source": source,
        "text": text,
        "ids": ids,
        "ids_special": ids_special,
        "decoded": tok.decode(ids_special, skip_special_tokens=False),
        "decoded_skip": tok.decode(ids_special, skip_special_tokens=True),
    }
    if split_special:
        tok.encode_special_tokens = True
        try:
            rec["ids_split_special"] = tok.encode(text, add_special_tokens=False).ids
        finally:
            tok.encode_special_tokens = False
    return rec


def random_decodes(tok, name, rng, count=RANDOM_DECODES):
    n = tok.get_vocab_size(with_added_tokens=True)
    added = sorted(tok.get_added_tokens_decoder().keys())
    out = []
    for i in range(count):
        length = rng.randint(1, 16)
        ids = []
        for _ in range(length):
            r = rng.random()
            if r < 0.1 and added:
                ids.append(rng.choice(added))
            elif r < 0.45 and name != "qwen3":
                ids.append(rng.randint(3, 258))  # <0x00>..<0xFF> byte-fallback tokens
            elif r < 0.45:
                ids.append(rng.randint(0, 255))  # qwen3: the 256 single byte-level symbols
            else:
                ids.append(rng.randrange(n))
        out.append({
            "kind": "decode",
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip": tok.decode(ids, skip_special_tokens=True),
        })
    return out


SYNTHETIC_EDGE = [
    "say hello world", "sayhello world", "hello!", "Hello hello_there hello", "a [MASK] b", "a   [MASK]   b",
    "[MASK][MASK]", "x<sep>   y", "<sep><sep>", "\ufb01ne and fine", "ﬁne", "ｈｅｌｌｏ ｗｏｒｌｄ", "tab\t[MASK]\tend",
    "well-known self-made x-ray", "xxx yyy xx x", "vowels aeiou", "12,345.67 and 2024-06-11", "<|tool|> call",
    "  <|tool|>  spaced", "text<|tool|>", "@@ after", "a@@b", "<|bos|>", "trailing spaces   ", "\u00a0\u2003 unusual spaces",
    "ⓐⓑⓒ circled ½ ² ㊀ \u200d", "naïve cafe\u0301", "UPPER lower MiXeD", "don't won't y'all",
]


def synthetic_tokenizers(train_text):
    """Small tokenizers covering the pipeline features the production files do not use."""
    out = {}

    # 1. SentencePiece-like with Metaspace(prepend first, split), Digits, NFKC/Replace/Strip.
    t = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=False))
    t.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " "),
                                         normalizers.Strip(left=False, right=True)])
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")])
    t.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    t.train_from_iterator(train_text, trainers.BpeTrainer(vocab_size=420, special_tokens=["<unk>", "<s>", "</s>"],
                                                          show_progress=False))
    t.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    t.add_tokens([AddedToken("hello", single_word=True, normalized=True),
                  AddedToken("\ufb01ne", normalized=True)])
    t.add_special_tokens([AddedToken("[MASK]", lstrip=True, rstrip=True, normalized=False, special=True),
                          AddedToken("<sep>", rstrip=True, normalized=False, special=True)])
    out["metaspace"] = t

    # 2. Word-piece-like BPE: prefix/suffix, ignore_merges, fuse_unk, Split behaviours, BPEDecoder.
    t = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>",
                             fuse_unk=True, ignore_merges=True))
    t.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Replace("``", '"')])
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("-", behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"\w+|[^\w\s]+"), behavior="removed", invert=True),
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Split(Regex("[aeiou]"), behavior="merged_with_next"),
        pre_tokenizers.Split(Regex("x"), behavior="contiguous"),
        pre_tokenizers.WhitespaceSplit(),
    ])
    t.decoder = decoders.BPEDecoder(suffix="</w>")
    t.train_from_iterator(train_text, trainers.BpeTrainer(
        vocab_size=500, special_tokens=["[UNK]", "[CLS]", "[SEP]"], continuing_subword_prefix="##",
        end_of_word_suffix="</w>", show_progress=False))
    t.post_processor = processors.BertProcessing(("[SEP]", 2), ("[CLS]", 1))
    out["wordlike"] = t

    # 3. GPT-2-like byte-level BPE: ByteLevel(add_prefix_space, use_regex), Sequence post-processor.
    t = Tokenizer(models.BPE())
    t.normalizer = normalizers.Replace("\r\n", "\n")
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    t.decoder = decoders.ByteLevel()
    t.train_from_iterator(train_text, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|bos|>", "<|eos|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    t.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=True),
        processors.TemplateProcessing(single="<|bos|> $A <|eos|>", special_tokens=[("<|bos|>", 0), ("<|eos|>", 1)]),
    ])
    t.add_tokens([AddedToken("<|tool|>", lstrip=True, normalized=False), AddedToken("@@", rstrip=True, normalized=True)])
    out["gpt2"] = t

    # 4. Metaspace "always" without split, byte fallback, and no decoder (decode joins with spaces).
    j = json.loads(out["metaspace"].to_str())
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": False}
    j["decoder"] = None
    j["post_processor"] = None
    j["model"]["byte_fallback"] = True
    j["model"]["fuse_unk"] = True
    vocab = j["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab) + 10)
    out["nodecoder"] = Tokenizer.from_str(json.dumps(j))

    # 5./6. The GPT-2-like model behind the split regexes of Llama 3 and of o200k-style files
    # (possessive-free but with \p{Lu}/\p{Ll}/\p{M} classes and {1,3}), with ignore_merges and
    # a Sequence[ByteLevel, TemplateProcessing] post-processor as Llama 3 has.
    for name, regex in (("llama3like", LLAMA3_REGEX), ("o200klike", O200K_REGEX)):
        j = json.loads(out["gpt2"].to_str())
        j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
        j["model"]["ignore_merges"] = True
        j["post_processor"] = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [0], "tokens": ["<|bos|>"]}}}]}
        out[name] = Tokenizer.from_str(json.dumps(j))
    return out


LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
O200K_REGEX = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
               r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
               r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")


REGEX_CLASSES = [r"\s", r"\S", r"\w", r"\d", r"\p{L}", r"\p{N}", r"\p{M}", r"\p{P}", r"\p{S}",
                 r"[^\s\p{L}\p{N}]", r"[^\r\n\p{L}\p{N}]", r"(?i:[ks])", r"\h", r"[\S]"]


def regex_class_vectors():
    """Code points matched by each pattern, over the code points assigned in unicodedata's version."""
    domain = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) != "Cn"]
    text = "".join(map(chr, domain))

    def ranges(cps):
        out = []
        for c in cps:
            if out and out[-1][1] == c - 1:
                out[-1][1] = c
            else:
                out.append([c, c])
        return out

    records = [{"kind": "domain", "unicode_version": unicodedata.unidata_version, "ranges": ranges(domain)}]
    for pat in REGEX_CLASSES:
        removed = pre_tokenizers.Split(Regex(pat), behavior="removed").pre_tokenize_str(text)
        unmatched = bytearray(len(domain))
        for _, (a, b) in removed:  # offsets are in characters
            for i in range(a, b):
                unmatched[i] = 1
        matched = [domain[i] for i in range(len(domain)) if not unmatched[i]]
        records.append({"kind": "class", "pattern": pat, "count": len(matched), "ranges": ranges(matched)})
    return records


def fnv1a64_ids(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little", signed=True):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def whole_file_vectors(fixtures):
    records = []
    for name, rel in TOKENIZERS.items():
        tok = Tokenizer.from_file(os.path.join(fixtures, rel))
        for text_file in ("calibration.txt", "heldout.txt", "wikitext2_test.txt"):
            with open(os.path.join(fixtures, "text", text_file), encoding="utf-8", newline="") as f:
                text = f.read()
            ids = tok.encode(text, add_special_tokens=True).ids
            records.append({"kind": "whole_file", "tokenizer": name, "file": "text/" + text_file,
                            "count": len(ids), "fnv1a64": f"{fnv1a64_ids(ids):016x}",
                            "first": ids[:8], "last": ids[-8:]})
    return records


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{path}: {len(records)} records, {os.path.getsize(path)} bytes")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=os.path.join(root, "..", "shared", "fixtures"))
    ap.add_argument("--out", default=os.path.join(root, "tests", "data", "tokenizer"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    calib = sample_lines(os.path.join(args.fixtures, "text", "calibration.txt"), LINES_PER_FILE)
    wiki = sample_lines(os.path.join(args.fixtures, "text", "wikitext2_test.txt"), LINES_PER_FILE)

    for name, rel in TOKENIZERS.items():
        path = os.path.join(args.fixtures, rel)
        tok = Tokenizer.from_file(path)
        rng = random.Random(20240611 + len(name))
        records = [{
            "kind": "meta",
            "tokenizer": name,
            "file": rel,
            "sha256": sha256(path),
            "tokenizers_version": tokenizers.__version__,
            "python": sys.version.split()[0],
        }]
        records += [encode_record(tok, t, "calibration") for t in calib]
        records += [encode_record(tok, t, "wikitext2") for t in wiki]
        records += [encode_record(tok, t, "edge", split_special=True) for t in EDGE_CASES]
        for raw in INVALID_UTF8:
            rec = encode_record(tok, raw.decode("utf-8", errors="replace"), "invalid_utf8")
            rec["bytes_hex"] = raw.hex()
            records.append(rec)
        records += random_decodes(tok, name, rng)
        write_jsonl(os.path.join(args.out, f"vectors_{name}.jsonl"), records)

    # Synthetic tokenizers: trained on the first lines of both texts, saved, then reloaded from
    # the saved file so the vectors describe exactly the committed JSON.
    train_text = calib[:60] + wiki[:60]
    for name, tok in synthetic_tokenizers(train_text).items():
        path = os.path.join(args.out, f"synthetic_{name}.json")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(tok.to_str())
        tok = Tokenizer.from_file(path)
        rng = random.Random(7 + len(name))
        records = [{"kind": "meta", "tokenizer": name, "file": os.path.basename(path), "sha256": sha256(path),
                    "tokenizers_version": tokenizers.__version__, "python": sys.version.split()[0]}]
        records += [encode_record(tok, t, "calibration") for t in calib[::16]]
        records += [encode_record(tok, t, "wikitext2") for t in wiki[::16]]
        records += [encode_record(tok, t, "edge", split_special=True) for t in EDGE_CASES + SYNTHETIC_EDGE]
        for raw in INVALID_UTF8:
            rec = encode_record(tok, raw.decode("utf-8", errors="replace"), "invalid_utf8")
            rec["bytes_hex"] = raw.hex()
            records.append(rec)
        records += random_decodes(tok, "qwen3", rng, count=15)
        write_jsonl(os.path.join(args.out, f"vectors_synthetic_{name}.jsonl"), records)

    write_jsonl(os.path.join(args.out, "vectors_whole_files.jsonl"), whole_file_vectors(args.fixtures))
    write_jsonl(os.path.join(args.out, "vectors_regex_classes.jsonl"), regex_class_vectors())


if __name__ == "__main__":
    main()
