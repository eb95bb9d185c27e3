// Golden vectors: every record written by make_tokenizer_vectors.py (the Hugging Face
// `tokenizers` library) must be reproduced exactly: ids with and without special tokens,
// ids with special-token strings treated as text, and both decodes.
#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "text_test_support.hpp"

namespace {

std::string show(const std::vector<llmc::token_id>& v) {
  std::ostringstream s;
  s << '[';
  for (std::size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  s << ']';
  return s.str();
}

struct vector_counts {
  std::size_t encode = 0, decode = 0, invalid_utf8 = 0, split_special = 0;
};

/// Checks every record of vectors_<name>.jsonl against `tok`; returns what was checked.
vector_counts check_vectors(const llmc::tokenizer& tok, const std::string& file) {
  const auto records = llmc_test::read_jsonl(llmc_test::test_data() / "tokenizer" / file);
  REQUIRE(records.size() > 1);
  REQUIRE(records.front().at("kind") == "meta");
  vector_counts n;
  std::vector<std::string> failures;
  const auto fail = [&](const nlohmann::json& r, const std::string& what, const std::string& got,
                        const std::string& want) {
    failures.push_back(what + " of " + r.value("text", r.contains("ids") ? r.at("ids").dump() : "") + "\n   got  " +
                       got + "\n   want " + want);
  };
  for (std::size_t k = 1; k < records.size(); ++k) {
    const auto& r = records[k];
    const std::string kind = r.at("kind");
    if (kind == "encode") {
      ++n.encode;
      const std::string input = r.contains("bytes_hex") ? llmc_test::unhex(r.at("bytes_hex")) : r.at("text").get<std::string>();
      if (r.contains("bytes_hex")) {
        ++n.invalid_utf8;
        if (llmc::utf8_sanitize(input) != r.at("text").get<std::string>())
          fail(r, "utf8_sanitize", llmc::utf8_sanitize(input), r.at("text"));
      }
      const auto ids = tok.encode(input, false);
      if (ids != llmc_test::ids_of(r.at("ids"))) fail(r, "encode(add_special=false)", show(ids), r.at("ids").dump());
      const auto ids_special = tok.encode(input, true);
      if (ids_special != llmc_test::ids_of(r.at("ids_special")))
        fail(r, "encode(add_special=true)", show(ids_special), r.at("ids_special").dump());
      if (r.contains("ids_split_special")) {
        ++n.split_special;
        const auto split = tok.encode(input, llmc::encode_options{false, true});
        if (split != llmc_test::ids_of(r.at("ids_split_special")))
          fail(r, "encode(split_special)", show(split), r.at("ids_split_special").dump());
      }
      const auto want = llmc_test::ids_of(r.at("ids_special"));
      const std::string dec = tok.decode(want, false), dec_skip = tok.decode(want, true);
      if (dec != r.at("decoded").get<std::string>()) fail(r, "decode", dec, r.at("decoded"));
      if (dec_skip != r.at("decoded_skip").get<std::string>()) fail(r, "decode(skip_special)", dec_skip, r.at("decoded_skip"));
    } else if (kind == "decode") {
      ++n.decode;
      const auto ids = llmc_test::ids_of(r.at("ids"));
      const std::string dec = tok.decode(ids, false), dec_skip = tok.decode(ids, true);
      if (dec != r.at("decoded").get<std::string>()) fail(r, "decode", dec, r.at("decoded"));
      if (dec_skip != r.at("decoded_skip").get<std::string>()) fail(r, "decode(skip_special)", dec_skip, r.at("decoded_skip"));
    } else {
      FAIL("unknown record kind " << kind);
    }
  }
  for (std::size_t i = 0; i < failures.size() && i < 12; ++i) MESSAGE(file << ": " << failures[i]);
  CHECK_MESSAGE(failures.empty(), file << ": " << failures.size() << " mismatches");
  return n;
}

}  // namespace

TEST_CASE("tokenizer matches HF tokenizers: stories260k fixture (SentencePiece-style BPE, byte fallback)") {
  const auto n = check_vectors(llmc_test::fixture_tokenizer("stories260k"), "vectors_stories260k.jsonl");
  CHECK(n.encode >= 250);
  CHECK(n.decode >= 30);
  CHECK(n.invalid_utf8 >= 10);
}

TEST_CASE("tokenizer matches HF tokenizers: Llama 2 (32k SentencePiece-style BPE)") {
  const auto n = check_vectors(llmc_test::fixture_tokenizer("llama2"), "vectors_llama2.jsonl");
  CHECK(n.encode >= 250);
  CHECK(n.decode >= 30);
}

TEST_CASE("tokenizer matches HF tokenizers: Qwen3 (151k byte-level BPE, NFC, split regex)") {
  const auto n = check_vectors(llmc_test::fixture_tokenizer("qwen3"), "vectors_qwen3.jsonl");
  CHECK(n.encode >= 250);
  CHECK(n.decode >= 30);
  CHECK(n.split_special >= 100);
}

// Synthetic tokenizers (trained by make_tokenizer_vectors.py, JSON committed next to the
// vectors) cover what the production files do not use: Metaspace, Digits, Split behaviours and
// invert, WhitespaceSplit, ByteLevel with the GPT-2 regex, NFKC / NFD / Strip / Replace, BPE
// prefix / suffix / ignore_merges, BPEDecoder, Metaspace decoder, no decoder, Bert / Sequence
// post-processors, sparse ids, and added tokens with lstrip / rstrip / single_word / normalized.
TEST_CASE("tokenizer matches HF tokenizers: synthetic tokenizers for the remaining pipeline features") {
  for (const std::string name : {"metaspace", "wordlike", "gpt2", "nodecoder", "llama3like", "o200klike"}) {
    CAPTURE(name);
    const auto tok =
        llmc::tokenizer::from_file(llmc_test::test_data() / "tokenizer" / ("synthetic_" + name + ".json"));
    const auto n = check_vectors(tok, "vectors_synthetic_" + name + ".jsonl");
    CHECK(n.encode >= 150);
    CHECK(n.decode >= 15);
  }
}

// Each character class of the split regexes must match exactly the code points Oniguruma
// matches (over the code points assigned in the generator's Unicode version).
TEST_CASE("regex character classes match Oniguruma's code point for code point") {
  const auto records = llmc_test::read_jsonl(llmc_test::test_data() / "tokenizer" / "vectors_regex_classes.jsonl");
  REQUIRE(records.size() >= 10);
  REQUIRE(records.front().at("kind") == "domain");
  std::vector<char32_t> domain;
  for (const auto& r : records.front().at("ranges"))
    for (char32_t c = r[0].get<char32_t>(); c <= r[1].get<char32_t>(); ++c) domain.push_back(c);
  REQUIRE(domain.size() > 100000);
  std::string subject;
  std::vector<std::size_t> offset_to_index;  // byte offset -> index in domain
  for (std::size_t i = 0; i < domain.size(); ++i) {
    const std::size_t at = subject.size();
    llmc::utf8_append(subject, domain[i]);
    offset_to_index.resize(subject.size(), i);
    offset_to_index[at] = i;
  }
  for (std::size_t k = 1; k < records.size(); ++k) {
    const auto& r = records[k];
    const std::string pattern = r.at("pattern");
    CAPTURE(pattern);
    std::vector<char> want(domain.size(), 0), got(domain.size(), 0);
    std::size_t want_count = 0;
    for (const auto& range : r.at("ranges")) {
      const auto lo = std::lower_bound(domain.begin(), domain.end(), range[0].get<char32_t>());
      for (auto it = lo; it != domain.end() && *it <= range[1].get<char32_t>(); ++it) {
        want[static_cast<std::size_t>(it - domain.begin())] = 1;
        ++want_count;
      }
    }
    REQUIRE(want_count == r.at("count").get<std::size_t>());
    const llmc::unicode_regex re(pattern);
    re.for_each_match(subject, [&](std::size_t a, std::size_t b) {
      for (std::size_t p = a; p < b; ++p) got[offset_to_index[p]] = 1;
    });
    std::vector<std::string> diffs;
    for (std::size_t i = 0; i < domain.size(); ++i) {
      if (want[i] != got[i]) {
        std::ostringstream s;
        s << "U+" << std::hex << std::uppercase << static_cast<unsigned>(domain[i]) << (want[i] ? " missed" : " extra");
        diffs.push_back(s.str());
      }
    }
    for (std::size_t i = 0; i < diffs.size() && i < 8; ++i) MESSAGE(pattern << ": " << diffs[i]);
    CHECK_MESSAGE(diffs.empty(), pattern << ": " << diffs.size() << " code points differ");
  }
}
