// Dataset sources: text lines and documents, JSON / JSONL with a text column, Open-Platypus
// (Alpaca formatting, exact strings), chat messages, pre-tokenized ids, and every reading error id.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "llmc/text/dataset_source.hpp"
#include "text_test_support.hpp"

namespace {

std::filesystem::path data(const std::string& name) { return llmc_test::test_data() / "datasets" / name; }

llmc::raw_dataset load(const std::string& name, llmc::dataset_source src = {}) {
  src.path = data(name);
  return llmc::load_raw_dataset(src);
}

// The id and message of the llmc::error `f` throws.
template <class F>
std::pair<std::string, std::string> error_of(F&& f) {
  try {
    f();
  } catch (const llmc::error& e) {
    return {e.id(), e.what()};
  }
  return {"no error", ""};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("text lines: one sample per non-empty line, CR dropped, line numbers kept") {
  const auto ds = load("small.txt");
  CHECK(ds.format == llmc::dataset_format::text_lines);
  CHECK(ds.schema == llmc::record_schema::text);
  REQUIRE(ds.samples.size() == 3);
  CHECK(ds.samples[0].text == "Spot saw the shiny car.");
  CHECK(ds.samples[1].text == "Lily loved to play.");
  CHECK(ds.samples[2].text == "The sun was hot.");
  CHECK(ds.samples[0].line == 1);
  CHECK(ds.samples[1].line == 3);
  CHECK(ds.samples[2].line == 5);
  CHECK(ds.where(1) == data("small.txt").string() + ":3");
}

TEST_CASE("text document: the whole file is one sample") {
  llmc::dataset_source src;
  src.format = llmc::dataset_format::text_document;
  const auto ds = load("small.txt", src);
  REQUIRE(ds.samples.size() == 1);
  CHECK(ds.samples[0].text == "Spot saw the shiny car.\r\n\r\nLily loved to play.\n\nThe sun was hot.");
}

TEST_CASE("the fixture calibration text has one sample per line") {
  llmc::dataset_source src;
  src.path = llmc_test::fixtures() / "text" / "calibration.txt";
  const auto ds = llmc::load_raw_dataset(src);
  CHECK(ds.samples.size() == 2114);  // fixtures/README.md: 2,114 lines, no blank ones
  const std::string text = llmc_test::read_text(src.path);
  CHECK(ds.samples[0].text == text.substr(0, text.find('\n')));
}

TEST_CASE("JSON: an array of records or {\"data\": [...]}, with a chosen text column") {
  const auto a = load("records.json");
  CHECK(a.format == llmc::dataset_format::json);
  CHECK(a.schema == llmc::record_schema::text);
  REQUIRE(a.samples.size() == 3);
  CHECK(a.samples[1].text == "Lily loved to play.");
  CHECK(a.samples[1].line == 2);
  CHECK(a.where(1) == data("records.json").string() + ": record 2");

  llmc::dataset_source src;
  src.text_column = "content";
  const auto b = load("records_data.json", src);
  REQUIRE(b.samples.size() == 2);
  CHECK(b.samples[0].text == "Tom had a red ball.");
  CHECK(b.samples[1].text == "It was a sunny day.");

  // The default column "text" is absent: the error lists the columns that are there.
  const auto [id, msg] = error_of([] { (void)load("records_data.json"); });
  CHECK(id == "llmc.data.105");
  CHECK(contains(msg, "content, id"));
  CHECK(contains(msg, "records_data.json: record 1"));
}

TEST_CASE("Open-Platypus records are formatted exactly as LLM Compressor's Alpaca templates") {
  const auto ds = load("platypus.jsonl");
  CHECK(ds.schema == llmc::record_schema::alpaca);
  REQUIRE(ds.samples.size() == 4);
  // input "" -> the "no input" prompt; text = prompt + output.
  CHECK(ds.samples[0].text ==
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nName the largest planet.\n\n### Response:\nJupiter is the largest planet.");
  CHECK(ds.samples[1].text ==
        "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
        "response that appropriately completes the request.\n\n### Instruction:\nAdd the numbers.\n\n### Input:\n2 and "
        "3\n\n### Response:\n5");
  // No input and no output: the prompt alone.
  CHECK(ds.samples[2].text ==
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nSay hello.\n\n### Response:\n");
  // output null counts as absent.
  CHECK(ds.samples[3].text ==
        "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
        "response that appropriately completes the request.\n\n### Instruction:\nTranslate to French.\n\n### Input:\n"
        "cat\n\n### Response:\n");
  CHECK(llmc::alpaca_prompt("I", "") + "O" == llmc::alpaca_text("I", "", "O"));
}

TEST_CASE("chat records keep their messages") {
  const auto ds = load("chat.jsonl");
  CHECK(ds.schema == llmc::record_schema::chat);
  REQUIRE(ds.samples.size() == 3);
  REQUIRE(ds.samples[0].messages.size() == 3);
  CHECK(ds.samples[0].messages[0].role == "system");
  CHECK(ds.samples[0].messages[2].content == "The cat sat on the mat.");
  CHECK(ds.samples[1].messages.size() == 2);
}

TEST_CASE("pre-tokenized records are read verbatim; a record's own padding mask is honoured") {
  const auto ds = load("pretokenized.jsonl");
  CHECK(ds.schema == llmc::record_schema::pretokenized);
  REQUIRE(ds.samples.size() == 4);
  CHECK(ds.samples[0].input_ids == std::vector<llmc::token_id>{1, 403, 407, 261, 378});
  CHECK(ds.samples[1].input_ids == std::vector<llmc::token_id>{1, 346, 306, 414, 263, 304, 341});
  CHECK(ds.samples[2].input_ids == std::vector<llmc::token_id>{1, 274, 287, 336});  // padding 2,2 .. 2,2 dropped
  CHECK(ds.samples[3].input_ids.size() == 12);
}

TEST_CASE("explicit schema overrides the automatic choice") {
  llmc::dataset_source src;
  src.schema = llmc::record_schema::text;
  src.text_column = "data_source";
  const auto ds = load("platypus.jsonl", src);
  REQUIRE(ds.samples.size() == 4);
  CHECK(ds.samples[0].text == "handwritten");
}

TEST_CASE("reading errors carry stable ids and locations") {
  const auto check = [](const std::string& file, const std::string& want_id, const std::string& want_part,
                        llmc::dataset_source src = {}) {
    CAPTURE(file);
    const auto [id, msg] = error_of([&] { (void)load(file, src); });
    CHECK(id == want_id);
    CHECK(contains(msg, want_part));
  };
  check("no_such_file.jsonl", "llmc.data.101", "not found");
  check("bad/malformed.json", "llmc.data.102", "malformed.json:4");
  check("bad/not_array.json", "llmc.data.102", "expected a JSON array");
  check("bad/malformed.jsonl", "llmc.data.103", "malformed.jsonl:3");
  check("bad/not_object.jsonl", "llmc.data.103", "not_object.jsonl:2");
  check("bad/wrong_type.jsonl", "llmc.data.104", "wrong_type.jsonl:2: column \"text\" must be a string, got number");
  check("bad/message_shape.jsonl", "llmc.data.104", "message 0");
  check("bad/no_column.jsonl", "llmc.data.105", "body, title");
  check("bad/missing_later.jsonl", "llmc.data.105", "missing_later.jsonl:2");
  check("bad/blank.txt", "llmc.data.106", "empty");
  check("bad/empty.jsonl", "llmc.data.106", "empty");
  check("bad/interior_mask.jsonl", "llmc.data.107", "position 1");
  check("bad/ids_negative.jsonl", "llmc.data.107", "ids_negative.jsonl:2: input_ids[1] = -5");
  check("bad/ids_empty.jsonl", "llmc.data.107", "empty");
  check("bad/unknown.csv", "llmc.data.108", ".csv");
  llmc::dataset_source alpaca_txt;
  alpaca_txt.schema = llmc::record_schema::alpaca;
  const auto [id, msg] = error_of([&] {
    llmc::dataset_source s = alpaca_txt;
    s.path = data("small.txt");
    (void)llmc::load_raw_dataset(s);
  });
  CHECK(id == "llmc.data.108");
  const auto [dir_id, dir_msg] = error_of([] { (void)load("chat"); });
  CHECK(dir_id == "llmc.data.101");
}
