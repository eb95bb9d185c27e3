// Calibration sets on the fixture text and tokenizers: exact token ids, sample counts, sampling
// orders (seeded shuffle against an independent Python mt19937_64, longest-first), concatenation,
// truncation, padding with an attention mask, pre-tokenized input, chat data, evaluation windows,
// warnings and error ids.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmc/text/dataset.hpp"
#include "text_test_support.hpp"

namespace {

using ids_t = std::vector<llmc::token_id>;

std::filesystem::path data(const std::string& name) { return llmc_test::test_data() / "datasets" / name; }
std::filesystem::path calibration_txt() { return llmc_test::fixtures() / "text" / "calibration.txt"; }

const llmc::tokenizer& stories() { return llmc_test::fixture_tokenizer("stories260k"); }
const llmc::tokenizer_info& stories_info() {
  static const auto info = llmc::tokenizer_info::from_directory(llmc_test::tokenizer_dir("stories260k"));
  return info;
}

llmc::calibration_set build(const std::filesystem::path& path, llmc::calibration_options o,
                            llmc::dataset_source src = {}, const llmc::tokenizer& tok = stories(),
                            const llmc::tokenizer_info& info = stories_info()) {
  src.path = path;
  return llmc::build_calibration_set(src, tok, info, o);
}

// Every row of the set, without padding, in use order.
std::vector<ids_t> rows(const llmc::calibration_set& set) {
  std::vector<ids_t> out;
  for (const auto& b : set.batches)
    for (std::size_t r = 0; r < b.rows; ++r) {
      const auto ids = b.ids(r);
      out.emplace_back(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(b.lengths[r]));
    }
  return out;
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::vector<std::string> out;
  const std::string text = llmc_test::read_text(p);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

// The fixture's lines encoded one by one with tokenizer.encode (BOS added), computed once.
const std::vector<ids_t>& encoded_calibration_lines() {
  static const auto enc = [] {
    std::vector<ids_t> out;
    for (const auto& l : lines_of(calibration_txt())) out.push_back(stories().encode(l));
    return out;
  }();
  return enc;
}

template <class F>
std::pair<std::string, std::string> error_of(F&& f) {
  try {
    f();
  } catch (const llmc::error& e) {
    return {e.id(), e.what()};
  }
  return {"no error", ""};
}

llmc::calibration_options opts(std::size_t n, std::int64_t max_len, llmc::sample_order order = llmc::sample_order::file_order) {
  llmc::calibration_options o;
  o.num_calibration_samples = n;
  o.max_seq_length = max_len;
  o.order = order;
  return o;
}

}  // namespace

TEST_CASE("text lines: each sample's ids equal tokenizer.encode of its line") {
  const auto set = build(calibration_txt(), opts(8, 2048));
  CHECK(set.available_samples == 2114);
  CHECK(set.num_samples() == 8);
  CHECK(set.batches.size() == 8);
  CHECK(set.truncated_samples == 0);
  const auto r = rows(set);
  const auto& enc = encoded_calibration_lines();
  for (std::size_t i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(r[i] == enc[i]);
    CHECK(set.source_lines[i] == i + 1);
  }
  CHECK(r[0].front() == 1);  // BOS
  CHECK(set.padded_tokens == 0);  // batch 1, padding to the longest row: no padding at all
  std::size_t real = 0;
  for (std::size_t i = 0; i < 8; ++i) real += enc[i].size();
  CHECK(set.real_tokens == real);
}

TEST_CASE("exact ids against the fixture's reference tokenizer examples") {
  const auto ref = nlohmann::json::parse(
      llmc_test::read_text(llmc_test::tokenizer_dir("stories260k") / "reference_outputs.json"));
  llmc::raw_dataset ds;
  ds.path = "reference_outputs.json";
  ds.format = llmc::dataset_format::jsonl;
  ds.schema = llmc::record_schema::text;
  std::vector<ids_t> want;
  for (const auto& ex : ref.at("tokenizer_examples").at("examples")) {
    ds.samples.push_back({llmc::record_schema::text, ex.at("text").get<std::string>(), {}, {}, ds.samples.size() + 1});
    want.push_back(ex.at("ids").get<ids_t>());
  }
  const auto set = llmc::build_calibration_set(ds, stories(), stories_info(), opts(0, 512));
  CHECK(rows(set) == want);  // includes "" -> [BOS] and the byte-fallback "café 世界"
}

TEST_CASE("longest_first: the reference's unshuffled order takes the N longest, ties in file order") {
  const auto set = build(calibration_txt(), opts(16, 4096, llmc::sample_order::longest_first));
  const auto& enc = encoded_calibration_lines();
  std::vector<std::size_t> order(enc.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return enc[a].size() > enc[b].size(); });
  const auto r = rows(set);
  REQUIRE(r.size() == 16);
  for (std::size_t i = 0; i < 16; ++i) {
    CAPTURE(i);
    CHECK(set.sample_indices[i] == order[i]);
    CHECK(r[i] == enc[order[i]]);
  }
  CHECK(r[0].size() > r[15].size());
}

TEST_CASE("shuffle: mt19937_64 + Fisher-Yates match an independent implementation; seeds reproduce") {
  const auto g = nlohmann::json::parse(llmc_test::read_text(data("shuffle_golden.json")));
  std::mt19937_64 e;
  e.discard(9999);
  CHECK(std::to_string(e()) == g.at("mt19937_64_default_10000th").get<std::string>());
  for (const auto& p : g.at("permutations")) {
    const auto n = p.at("n").get<std::size_t>();
    const auto seed = p.at("seed").get<std::uint64_t>();
    CAPTURE(n);
    CAPTURE(seed);
    CHECK(llmc::shuffled_indices(n, seed) == p.at("perm").get<std::vector<std::size_t>>());
  }

  const auto a = build(calibration_txt(), opts(32, 512, llmc::sample_order::shuffled));
  const auto b = build(calibration_txt(), opts(32, 512, llmc::sample_order::shuffled));
  auto o7 = opts(32, 512, llmc::sample_order::shuffled);
  o7.seed = 7;
  const auto c = build(calibration_txt(), o7);
  CHECK(a.sample_indices == b.sample_indices);
  CHECK(rows(a) == rows(b));
  CHECK(a.sample_indices != c.sample_indices);
  // Default seed 42 over the 2,114 lines: the first 32 of the golden permutation.
  std::vector<std::size_t> golden;
  for (const auto& p : g.at("permutations"))
    if (p.at("n") == 2114) golden = p.at("perm").get<std::vector<std::size_t>>();
  REQUIRE(golden.size() == 2114);
  CHECK(a.sample_indices == std::vector<std::size_t>(golden.begin(), golden.begin() + 32));
  CHECK(rows(a)[0] == encoded_calibration_lines()[golden[0]]);
  // A permutation: no index twice.
  auto sorted = llmc::shuffled_indices(2114, 42);
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  CHECK(sorted.back() == 2113);
}

TEST_CASE("concatenation: floor(total / max_seq_length) full chunks of the joined samples") {
  const std::size_t len = 512;
  auto o = opts(0, static_cast<std::int64_t>(len));
  o.concatenate = true;
  const auto cat = build(calibration_txt(), o);
  // Independent: each line encoded (BOS added) and cut to 512 as the reference truncates, joined.
  ids_t joined;
  for (const auto& e : encoded_calibration_lines())
    joined.insert(joined.end(), e.begin(), e.begin() + static_cast<std::ptrdiff_t>(std::min(e.size(), len)));
  CHECK(cat.available_samples == joined.size() / len);
  CHECK(cat.num_samples() == joined.size() / len);
  const auto r = rows(cat);
  REQUIRE(!r.empty());
  for (std::size_t k : {std::size_t{0}, std::size_t{1}, r.size() - 1}) {
    CAPTURE(k);
    CHECK(r[k] == ids_t(joined.begin() + static_cast<std::ptrdiff_t>(k * len),
                        joined.begin() + static_cast<std::ptrdiff_t>((k + 1) * len)));
  }
  CHECK(cat.padded_tokens == 0);
  CHECK(cat.real_tokens == (joined.size() / len) * len);
  CHECK(std::all_of(cat.source_lines.begin(), cat.source_lines.end(), [](auto l) { return l == 0; }));

  // Fewer tokens than one chunk is an error, not an empty set.
  auto big = opts(0, 4096);
  big.concatenate = true;
  CHECK(error_of([&] { (void)build(data("small.txt"), big); }).first == "llmc.data.106");
}

TEST_CASE("document: one BOS, max_seq_length chunks, as the fixture's activation windows") {
  llmc::dataset_source src;
  src.format = llmc::dataset_format::text_document;
  const auto set = build(calibration_txt(), opts(4, 512), src);
  const auto whole = stories().encode(llmc_test::read_text(calibration_txt()));
  CHECK(whole.size() == 191695);  // fixtures/README.md: tok512 tokens of calibration.txt incl. BOS
  CHECK(set.available_samples == 191695 / 512);
  const auto r = rows(set);
  REQUIRE(r.size() == 4);
  for (std::size_t k = 0; k < 4; ++k)
    CHECK(r[k] == ids_t(whole.begin() + static_cast<std::ptrdiff_t>(k * 512), whole.begin() + static_cast<std::ptrdiff_t>((k + 1) * 512)));
  CHECK(r[0][0] == 1);
  CHECK(r[1][0] != 1);  // no BOS per chunk
  CHECK(error_of([&] { (void)build(data("small.txt"), opts(4, 512), src); }).first == "llmc.data.106");
}

TEST_CASE("truncation keeps BOS and the head of the text") {
  std::vector<llmc::dataset_warning> warnings;
  auto o = opts(6, 16);
  o.on_warning = [&](const llmc::dataset_warning& w) { warnings.push_back(w); };
  const auto set = build(calibration_txt(), o);
  const auto r = rows(set);
  const auto& enc = encoded_calibration_lines();
  for (std::size_t i = 0; i < 6; ++i) CHECK(r[i] == ids_t(enc[i].begin(), enc[i].begin() + 16));
  std::size_t longer = 0;
  for (const auto& e : enc) longer += e.size() > 16;
  CHECK(set.truncated_samples == longer);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].id == "llmc.data.203");
  // A suffix special token survives truncation, as in Hugging Face (template [BOS] $A [EOS]).
  ids_t out;
  const ids_t pre{1}, body{10, 11, 12, 13}, suf{2};
  CHECK(llmc::detail::assemble_truncated(out, pre, body, suf, 4));
  CHECK(out == ids_t{1, 10, 11, 2});
  CHECK_FALSE(llmc::detail::assemble_truncated(out, pre, body, suf, 6));
  CHECK(out == ids_t{1, 10, 11, 12, 13, 2});
}

TEST_CASE("padding: right padding with the EOS id, masked out; real-token count excludes it") {
  std::vector<llmc::dataset_warning> warnings;
  auto o = opts(8, 512, llmc::sample_order::shuffled);
  o.batch_size = 3;
  o.on_warning = [&](const llmc::dataset_warning& w) { warnings.push_back(w); };
  const auto set = build(calibration_txt(), o);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].id == "llmc.data.205");
  REQUIRE(set.batches.size() == 3);  // 3 + 3 + 2
  CHECK(set.batches[2].rows == 2);
  REQUIRE(set.pad_token_id.has_value());
  CHECK(*set.pad_token_id == 2);  // pad_token is null in tokenizer_config.json -> eos "</s>"
  const auto& enc = encoded_calibration_lines();
  std::size_t real = 0, pads = 0, row = 0;
  for (const auto& b : set.batches) {
    std::size_t longest = 0;
    for (auto l : b.lengths) longest = std::max(longest, l);
    CHECK(b.seq_len == longest);
    CHECK(b.ids_view().rows() == b.rows);
    CHECK(b.ids_view().cols() == b.seq_len);
    for (std::size_t r = 0; r < b.rows; ++r, ++row) {
      const auto& want = enc[set.sample_indices[row]];
      CHECK(b.lengths[r] == want.size());
      const auto ids = b.ids(r);
      const auto mask = b.mask(r);
      for (std::size_t t = 0; t < b.seq_len; ++t) {
        if (t < want.size()) {
          CHECK(ids[t] == want[t]);
          CHECK(mask[t] == 1);
        } else {
          CHECK(ids[t] == 2);
          CHECK(mask[t] == 0);
        }
      }
      real += want.size();
      pads += b.seq_len - want.size();
    }
  }
  CHECK(pads > 0);
  CHECK(set.real_tokens == real);
  CHECK(set.padded_tokens == pads);

  // max_length: every row padded to max_seq_length (the reference's pad_to_max_length).
  o.padding = llmc::padding_mode::max_length;
  const auto full = build(calibration_txt(), o);
  for (const auto& b : full.batches) CHECK(b.seq_len == 512);
  CHECK(full.real_tokens == real);
  CHECK(full.padded_tokens == 8 * 512 - real);

  // The reference's truncation collator: rows cut to the shortest, nothing masked.
  o.padding = llmc::padding_mode::truncate_to_shortest;
  const auto cut = build(calibration_txt(), o);
  CHECK(cut.padded_tokens == 0);
  CHECK_FALSE(cut.pad_token_id.has_value());
  for (const auto& b : cut.batches) {
    CHECK(*std::min_element(b.lengths.begin(), b.lengths.end()) == b.seq_len);
    CHECK(std::all_of(b.attention_mask.begin(), b.attention_mask.end(), [](auto m) { return m == 1; }));
  }

  // A configured pad_token is used (Qwen3: <|endoftext|>).
  const auto& q = llmc_test::fixture_tokenizer("qwen3");
  const auto qi = llmc::tokenizer_info::from_directory(llmc_test::tokenizer_dir("qwen3"));
  auto oq = opts(3, 64);
  oq.batch_size = 3;
  const auto qs = build(data("small.txt"), oq, {}, q, qi);
  REQUIRE(qs.pad_token_id.has_value());
  CHECK(*qs.pad_token_id == *q.token_to_id("<|endoftext|>"));
  CHECK(rows(qs)[0] == q.encode("Spot saw the shiny car."));  // Qwen3 adds no BOS
}

TEST_CASE("pre-tokenized input is used verbatim (no BOS added), truncated to max_seq_length") {
  const auto set = build(data("pretokenized.jsonl"), opts(0, 8));
  const auto r = rows(set);
  REQUIRE(r.size() == 4);
  CHECK(r[0] == ids_t{1, 403, 407, 261, 378});
  CHECK(r[1] == ids_t{1, 346, 306, 414, 263, 304, 341});
  CHECK(r[2] == ids_t{1, 274, 287, 336});
  CHECK(r[3] == ids_t{5, 6, 7, 8, 9, 10, 11, 12});
  CHECK(set.truncated_samples == 1);
  const auto [id, msg] = error_of([&] { (void)build(data("bad/ids_vocab.jsonl"), opts(0, 8)); });
  CHECK(id == "llmc.data.107");
  CHECK(msg.find("ids_vocab.jsonl:2") != std::string::npos);
  CHECK(msg.find("512") != std::string::npos);
}

TEST_CASE("Open-Platypus calibration: ids of the Alpaca text") {
  const auto set = build(data("platypus.jsonl"), opts(0, 512));
  const auto r = rows(set);
  REQUIRE(r.size() == 4);
  CHECK(r[1] == stories().encode(llmc::alpaca_text("Add the numbers.", "2 and 3", "5")));
}

TEST_CASE("chat calibration: rendered with the model's template, special tokens not doubled") {
  // stories260k has no chat template: LLM Compressor's default is used, with a warning.
  std::vector<llmc::dataset_warning> warnings;
  auto o = opts(0, 512);
  o.on_warning = [&](const llmc::dataset_warning& w) { warnings.push_back(w); };
  const auto set = build(data("chat.jsonl"), o);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].id == "llmc.data.204");
  const auto r = rows(set);
  REQUIRE(r.size() == 3);
  const std::string text0 =
      "<|system|>\nYou are a storyteller.</s>\n<|user|>\nTell me about a cat.</s>\n<|assistant|>\nThe cat sat on the "
      "mat.</s>\n";
  CHECK(r[0] == stories().encode(text0));  // BOS + text; "</s>" is the EOS token
  CHECK(std::count(r[0].begin(), r[0].end(), 2) == 3);

  // The reference's ultrachat loader inserts an empty system turn.
  o.chat_insert_empty_system = true;
  const auto with_sys = rows(build(data("chat.jsonl"), o));
  CHECK(with_sys[1] == stories().encode("<|system|>\n</s>\n<|user|>\nHi!</s>\n<|assistant|>\nHello. How can I help?</s>\n"));

  // Llama 2 tokenizer with the Llama-2-chat template: the text starts with <s> already.
  const auto& l2 = llmc_test::fixture_tokenizer("llama2");
  const auto info = llmc::tokenizer_info::from_directory(data("chat/llama2"));
  const auto l2set = build(data("chat.jsonl"), opts(0, 512), {}, l2, info);
  const auto l2rows = rows(l2set);
  const std::string l2text =
      "<s>[INST] <<SYS>>\nYou are a storyteller.\n<</SYS>>\n\nTell me about a cat. [/INST] The cat sat on the mat. </s>";
  CHECK(l2rows[0] == l2.encode(l2text, false));
  CHECK(l2rows[0][0] == 1);
  CHECK(l2rows[0][1] != 1);
  auto always = opts(0, 512);
  always.chat_specials = llmc::chat_special_tokens::always;  // LLM Compressor: tokenizer(text) adds a second BOS
  const auto doubled = rows(build(data("chat.jsonl"), always, {}, l2, info));
  CHECK(doubled[0] == l2.encode(l2text, true));
  CHECK(doubled[0][0] == 1);
  CHECK(doubled[0][1] == 1);

  // Qwen3: its own template, no BOS.
  const auto& q = llmc_test::fixture_tokenizer("qwen3");
  const auto qi = llmc::tokenizer_info::from_directory(llmc_test::tokenizer_dir("qwen3"));
  const auto qrows = rows(build(data("chat.jsonl"), opts(0, 512), {}, q, qi));
  CHECK(qrows[1] == q.encode("<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello. How can I "
                             "help?<|im_end|>\n"));
  CHECK(qrows[1][0] == *q.token_to_id("<|im_start|>"));
}

TEST_CASE("chat calibration errors name the record") {
  const auto& l2 = llmc_test::fixture_tokenizer("llama2");
  const auto info = llmc::tokenizer_info::from_directory(data("chat/llama2"));
  const auto [aid, amsg] = error_of([&] { (void)build(data("bad/alternate.jsonl"), opts(0, 512), {}, l2, info); });
  CHECK(aid == "llmc.data.122");
  CHECK(amsg.find("alternate.jsonl:2") != std::string::npos);
  CHECK(error_of([&] { (void)build(data("bad/roles.jsonl"), opts(0, 512)); }).first == "llmc.data.121");
  auto no_default = opts(0, 512);
  no_default.allow_default_chat_template = false;
  CHECK(error_of([&] { (void)build(data("chat.jsonl"), no_default); }).first == "llmc.data.123");
  const auto unknown = llmc::tokenizer_info::from_directory(data("chat/unknown_mistral"));
  const auto [uid, umsg] = error_of([&] { (void)build(data("chat.jsonl"), opts(0, 512), {}, l2, unknown); });
  CHECK(uid == "llmc.data.124");
  CHECK(umsg.find("unknown_mistral") != std::string::npos);
}

TEST_CASE("sample count, max_seq_length resolution and their warnings / errors") {
  std::vector<llmc::dataset_warning> warnings;
  auto o = opts(10, 512);
  o.on_warning = [&](const llmc::dataset_warning& w) { warnings.push_back(w); };
  const auto set = build(data("records.json"), o);
  CHECK(set.num_samples() == 3);  // clipped, as the reference does
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].id == "llmc.data.201");

  warnings.clear();
  auto big = opts(1, 100000);
  big.on_warning = o.on_warning;
  CHECK(build(data("records.json"), big).max_seq_length == 512);  // stories260k model_max_length
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].id == "llmc.data.202");

  llmc::calibration_options unset;
  unset.num_calibration_samples = 1;
  CHECK(build(data("records.json"), unset).max_seq_length == 512);
  const auto& l2 = llmc_test::fixture_tokenizer("llama2");
  const auto l2info = llmc::tokenizer_info::from_directory(llmc_test::tokenizer_dir("llama2"));
  CHECK(error_of([&] { (void)build(data("records.json"), unset, {}, l2, l2info); }).first == "llmc.data.112");

  CHECK(error_of([&] { (void)build(data("records.json"), opts(1, 0)); }).first == "llmc.data.110");
  CHECK(error_of([&] { (void)build(data("records.json"), opts(1, -5)); }).first == "llmc.data.110");
  auto zero_batch = opts(1, 64);
  zero_batch.batch_size = 0;
  CHECK(error_of([&] { (void)build(data("records.json"), zero_batch); }).first == "llmc.data.111");
  // num_calibration_samples 0 means all.
  CHECK(build(data("records.json"), opts(0, 64)).num_samples() == 3);
}

TEST_CASE("pad token errors") {
  auto info = stories_info();
  info.pad_token = "<pad>";
  auto o = opts(3, 64);
  o.batch_size = 3;
  CHECK(error_of([&] { (void)build(data("records.json"), o, {}, stories(), info); }).first == "llmc.data.131");
  // Padding needed and no pad/EOS id at all.
  const std::vector<ids_t> seqs{{1, 2, 3}, {1, 2}};
  const std::vector<std::size_t> order{0, 1};
  CHECK(error_of([&] { (void)llmc::make_batches(seqs, order, 2, llmc::padding_mode::longest, 8, std::nullopt); }).first ==
        "llmc.data.131");
  // Without padding no pad id is needed.
  const auto b = llmc::make_batches(seqs, order, 1, llmc::padding_mode::longest, 8, std::nullopt);
  CHECK(b.size() == 2);
}

TEST_CASE("evaluation windows: the fixture's perplexity protocol on heldout.txt") {
  llmc::window_options w;
  w.window = 512;
  w.max_windows = 32;
  const auto ev = llmc::evaluation_windows_from_file(stories(), llmc_test::fixtures() / "text" / "heldout.txt", w);
  CHECK(ev.tokens.size() == 100592);  // reference_outputs.json heldout_total_tokens
  REQUIRE(ev.windows.size() == 32);
  CHECK(ev.predicted_tokens() == 16352);  // 32 x 511
  CHECK(ev.tokens[0] == 1);
  CHECK(ev.windows[0].ids[0] == 1);
  CHECK(ev.windows[1].begin == 512);
  CHECK(ev.windows[1].ids == ids_t(ev.tokens.begin() + 512, ev.tokens.begin() + 1024));
  CHECK(std::count(ev.tokens.begin(), ev.tokens.end(), 1) == 1);  // one BOS for the whole file

  // All windows: the partial remainder is dropped.
  w.max_windows = 0;
  CHECK(llmc::make_token_windows(ev.tokens, w).windows.size() == 100592 / 512);
}

TEST_CASE("evaluation windows: sliding stride scores every token once") {
  ids_t t(1000);
  std::iota(t.begin(), t.end(), 0);
  llmc::window_options w;
  w.window = 256;
  w.stride = 100;
  const auto ev = llmc::make_token_windows(t, w);
  std::vector<int> scored(t.size(), 0);
  for (const auto& win : ev.windows) {
    CHECK(win.ids.size() <= 256);
    for (std::size_t k = win.first_target; k < win.ids.size(); ++k) ++scored[static_cast<std::size_t>(win.ids[k])];
  }
  CHECK(scored[0] == 0);
  CHECK(std::all_of(scored.begin() + 1, scored.end(), [](int s) { return s == 1; }));
  CHECK(ev.predicted_tokens() == 999);
  CHECK(ev.windows.back().begin + ev.windows.back().ids.size() == 1000);
  CHECK(ev.windows[1].first_target == 156);  // window [100, 356) predicts 256..355

  llmc::window_options bad;
  bad.window = 0;
  CHECK(error_of([&] { (void)llmc::make_token_windows(t, bad); }).first == "llmc.data.140");
  bad.window = 10;
  bad.stride = 11;
  CHECK(error_of([&] { (void)llmc::make_token_windows(t, bad); }).first == "llmc.data.140");
  llmc::window_options longw;
  longw.window = 2000;
  CHECK(error_of([&] { (void)llmc::make_token_windows(t, longw); }).first == "llmc.data.141");
  CHECK(error_of([&] { (void)llmc::evaluation_windows_from_file(stories(), data("none.txt"), longw); }).first ==
        "llmc.data.101");
}
