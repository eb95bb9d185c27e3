// Hand-checked BPE behaviour and the error ids of unsupported or broken tokenizer files.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "llmc/text/tokenizer.hpp"

using llmc::token_id;

namespace {

// A tiny BPE: merges b+c (rank 0), a+b (rank 1), a+bc (rank 2).
llmc::bpe_model tiny(bool fuse_unk, bool byte_fallback) {
  llmc::bpe_model::vocab_map vocab{{"a", 0}, {"b", 1}, {"c", 2},      {"ab", 3},     {"bc", 4},
                                   {"abc", 5}, {"<unk>", 6}, {"<0xC3>", 7}, {"<0xA9>", 8}};
  llmc::bpe_options opt;
  opt.unk_token = "<unk>";
  opt.fuse_unk = fuse_unk;
  opt.byte_fallback = byte_fallback;
  return llmc::bpe_model(std::move(vocab), {{"b", "c"}, {"a", "b"}, {"a", "bc"}}, opt);
}
std::vector<token_id> run(const llmc::bpe_model& m, std::string_view w) {
  std::vector<token_id> out;
  m.tokenize(w, out);
  return out;
}

// A minimal valid tokenizer.json with one part replaced.
std::string tokenizer_json(const std::string& model_type = "BPE", const std::string& normalizer = "null",
                           const std::string& pre_tokenizer = "null", const std::string& decoder = "null",
                           const std::string& post = "null", const std::string& extra_model = "",
                           const std::string& merges = R"(["a b"])") {
  return R"({"version": "1.0", "added_tokens": [{"id": 3, "content": "<s>", "special": true, "normalized": false}],
    "normalizer": )" + normalizer + R"(, "pre_tokenizer": )" + pre_tokenizer + R"(, "decoder": )" + decoder +
         R"(, "post_processor": )" + post + R"(, "model": {"type": ")" + model_type + R"(")" + extra_model +
         R"(, "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3}, "merges": )" + merges + "}}";
}

void expect_error(const std::string& json, const std::string& id, const std::string& needle,
                  const std::string& config = "") {
  try {
    (void)llmc::tokenizer::from_json(json, config, "models/x/tokenizer.json");
    FAIL("expected an llmc::error " << id);
  } catch (const llmc::error& e) {
    CHECK(e.id() == id);
    const std::string what = e.what();
    CHECK_MESSAGE(what.find(needle) != std::string::npos, what);
    CHECK_MESSAGE(what.find("models/x/tokenizer") != std::string::npos, what);
  }
}

}  // namespace

TEST_CASE("BPE applies the lowest-rank merge first, leftmost on ties") {
  const auto m = tiny(true, true);
  CHECK(run(m, "abc") == std::vector<token_id>{5});     // b+c first, then a+bc
  CHECK(run(m, "abab") == std::vector<token_id>{3, 3});
  CHECK(run(m, "cab") == std::vector<token_id>{2, 3});
  CHECK(run(m, "") == std::vector<token_id>{});
  CHECK(m.merge_count() == 3);
}

TEST_CASE("BPE unknown characters: fuse_unk and byte fallback (values checked with tokenizers 0.23.3)") {
  const auto fused = tiny(true, true);
  CHECK(run(fused, "xab") == std::vector<token_id>{6, 3});
  CHECK(run(fused, "xyab") == std::vector<token_id>{6, 3});
  // A pending unk is emitted before the next in-vocabulary character, not before byte tokens
  // (model.rs merge_word): "xé" gives the bytes of é first, then the unk of x.
  CHECK(run(fused, "x\xc3\xa9") == std::vector<token_id>{7, 8, 6});
  CHECK(run(fused, "x\xc3\xa9y") == std::vector<token_id>{7, 8, 6});
  const auto plain = tiny(false, false);
  CHECK(run(plain, "xyab") == std::vector<token_id>{6, 6, 3});
  CHECK(run(plain, "x\xc3\xa9") == std::vector<token_id>{6, 6});
}

TEST_CASE("unsupported features are config_errors naming the file and the feature") {
  expect_error(tokenizer_json("WordPiece"), "llmc.text.201", "WordPiece");
  expect_error(tokenizer_json("Unigram"), "llmc.text.201", "Unigram");
  expect_error(tokenizer_json("BPE", R"({"type": "Lowercase"})"), "llmc.text.202", "Lowercase");
  expect_error(tokenizer_json("BPE", R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "BertNormalizer"}]})"),
               "llmc.text.202", "BertNormalizer");
  expect_error(tokenizer_json("BPE", "null", R"({"type": "BertPreTokenizer"})"), "llmc.text.203", "BertPreTokenizer");
  expect_error(tokenizer_json("BPE", "null", "null", R"({"type": "WordPiece", "prefix": "##"})"), "llmc.text.204",
               "WordPiece");
  expect_error(tokenizer_json("BPE", "null", "null", "null", R"({"type": "Fancy"})"), "llmc.text.205", "Fancy");
  expect_error(tokenizer_json("BPE", "null", R"({"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated", "invert": false})"),
               "llmc.text.206", "(a");
  expect_error(tokenizer_json("BPE", "null", "null", "null", "null", R"(, "dropout": 0.1)"), "llmc.text.208", "dropout");
  expect_error(tokenizer_json("BPE", "null", "null", "null", "null", "", R"(["a c"])"), "llmc.text.210", "'c'");
  expect_error(tokenizer_json("BPE", "null", "null", "null", "null", R"(, "unk_token": "<unk>")"), "llmc.text.211",
               "<unk>");
}

TEST_CASE("malformed files are io_errors; tokenizer_config problems are config_errors") {
  expect_error("{not json", "llmc.text.102", "not valid JSON");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "llmc.text.103", "merges");
  expect_error(tokenizer_json("BPE", "null", "null", "null", "null", "", R"(["a b c"])"), "llmc.text.103", "a b c");
  expect_error(tokenizer_json(), "llmc.text.209", "</s>", R"({"add_bos_token": true, "bos_token": "</s>"})");
  expect_error(tokenizer_json(), "llmc.text.209", "eos_token", R"({"add_eos_token": true, "eos_token": null})");
  try {
    (void)llmc::tokenizer::from_directory("/nonexistent/model");
    FAIL("expected io_error");
  } catch (const llmc::io_error& e) {
    CHECK(e.id() == "llmc.text.101");
    CHECK(std::string(e.what()).find("/nonexistent/model/tokenizer.json") != std::string::npos);
  }
}

TEST_CASE("a minimal file works end to end: legacy merges, no decoder joins with spaces") {
  const auto tok = llmc::tokenizer::from_json(tokenizer_json(), "", "models/x/tokenizer.json");
  CHECK(tok.encode("abab<s>ba") == std::vector<token_id>{2, 2, 3, 1, 0});
  CHECK(tok.decode(std::vector<token_id>{2, 3, 0}) == "ab <s> a");
  CHECK(tok.decode(std::vector<token_id>{2, 3, 0}, true) == "ab a");
  CHECK(tok.decode(std::vector<token_id>{2, 99, -1, 0}) == "ab a");  // unknown ids are skipped
  CHECK(tok.vocab_size() == 4);
  CHECK_FALSE(tok.bos_token_id().has_value());
}
