// Chat templates: family recognition from real tokenizer_config.json templates, exact rendering
// (hand-written expectations from the template definitions, plus every case Jinja2 renders in
// tests/data/datasets/chat/vectors.json), rejection of look-alike templates, tokenizer_info.
#include <doctest/doctest.h>

#include "support/error_id.hpp"

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmc/text/chat_template.hpp"
#include "llmc/text/dataset_tokenizer_info.hpp"
#include "text_test_support.hpp"

namespace {

std::filesystem::path chat_dir(const std::string& name) {
  if (name == "qwen3") return llmc_test::fixtures() / "tokenizers" / "qwen3";
  return llmc_test::test_data() / "datasets" / "chat" / name;
}

llmc::chat_template load_template(const std::string& name) {
  if (name == "llmcompressor_default") return llmc::chat_template::llmcompressor_default("</s>");
  const auto info = llmc::tokenizer_info::from_directory(chat_dir(name));
  return llmc::chat_template::recognize(info.chat_template, info.bos_token.value_or(""), info.eos_token.value_or(""),
                                        info.chat_template_origin);
}

const std::vector<llmc::chat_message> three = {
    {"system", "You are a storyteller."},
    {"user", "Tell me about a cat."},
    {"assistant", "The cat sat on the mat."},
};

using test_support::error_id;

}  // namespace

TEST_CASE("chat templates: each family is recognised from its real template") {
  CHECK(load_template("llama2").family() == llmc::chat_template_family::llama2);
  CHECK(load_template("zephyr").family() == llmc::chat_template_family::zephyr);
  CHECK(load_template("chatml").family() == llmc::chat_template_family::chatml);
  CHECK(load_template("chatml").default_system().empty());
  CHECK(load_template("qwen2").family() == llmc::chat_template_family::chatml);
  CHECK(load_template("qwen2").default_system() == "You are a helpful assistant.");
  CHECK(load_template("qwen25").family() == llmc::chat_template_family::chatml);
  CHECK(load_template("qwen25").default_system() == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  CHECK(load_template("qwen3").family() == llmc::chat_template_family::qwen3);
  CHECK(load_template("llama3").family() == llmc::chat_template_family::llama3);
  CHECK(load_template("llama3").bos_token() == "<|begin_of_text|>");
  CHECK(load_template("qwen3").eos_token() == "<|im_end|>");
}

TEST_CASE("chat templates: three-message conversation, exact text per family (from the template definitions)") {
  // Llama-2-chat: system folded into the first [INST] between <<SYS>> markers, contents stripped,
  // assistant turn " A </s>".
  CHECK(load_template("llama2").render(three) ==
        "<s>[INST] <<SYS>>\nYou are a storyteller.\n<</SYS>>\n\nTell me about a cat. [/INST] The cat sat on the mat. </s>");
  // Zephyr / TinyLlama-chat: "<|role|>\n" content eos, and the template's literal newline after each turn.
  CHECK(load_template("zephyr").render(three) ==
        "<|system|>\nYou are a storyteller.</s>\n<|user|>\nTell me about a cat.</s>\n<|assistant|>\nThe cat sat on the "
        "mat.</s>\n");
  // ChatML.
  CHECK(load_template("chatml").render(three) ==
        "<|im_start|>system\nYou are a storyteller.<|im_end|>\n<|im_start|>user\nTell me about a cat.<|im_end|>\n"
        "<|im_start|>assistant\nThe cat sat on the mat.<|im_end|>\n");
  // Qwen3: the final assistant turn after the last user query gets an empty think block.
  CHECK(load_template("qwen3").render(three) ==
        "<|im_start|>system\nYou are a storyteller.<|im_end|>\n<|im_start|>user\nTell me about a cat.<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\nThe cat sat on the mat.<|im_end|>\n");
  // Llama 3: bos once, header, "\n\n", trimmed content, <|eot_id|>.
  CHECK(load_template("llama3").render(three) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a storyteller.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nTell me about a cat.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nThe cat sat on the mat.<|eot_id|>");
  // LLM Compressor's default template (ultrachat fallback) with the model's eos.
  CHECK(llmc::chat_template::llmcompressor_default("</s>").render(three) ==
        "<|system|>\nYou are a storyteller.</s>\n<|user|>\nTell me about a cat.</s>\n<|assistant|>\nThe cat sat on the "
        "mat.</s>\n");
}

TEST_CASE("chat templates: default system prompt and generation prompt") {
  const std::vector<llmc::chat_message> user_only = {{"user", "Write a haiku."}};
  CHECK(load_template("qwen2").render(user_only, true) ==
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite a haiku.<|im_end|>\n"
        "<|im_start|>assistant\n");
  CHECK(load_template("zephyr").render(user_only, true) == "<|user|>\nWrite a haiku.</s>\n<|assistant|>\n");
  CHECK(load_template("llama3").render(user_only, true) ==
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWrite a haiku.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // Llama 2's template has no generation prompt.
  CHECK(load_template("llama2").render(user_only, true) == "<s>[INST] Write a haiku. [/INST]");
}

TEST_CASE("chat templates: every Jinja2-rendered vector is reproduced") {
  const auto v = nlohmann::json::parse(llmc_test::read_text(llmc_test::test_data() / "datasets" / "chat" / "vectors.json"));
  std::size_t checked = 0, errors = 0;
  for (const auto& c : v.at("cases")) {
    const std::string name = c.at("template");
    const auto conv = v.at("conversations").at(c.at("conversation").get<std::string>());
    std::vector<llmc::chat_message> msgs;
    for (const auto& m : conv) {
      llmc::chat_message msg{m.at("role"), m.at("content")};
      if (m.contains("reasoning_content")) msg.reasoning_content = m.at("reasoning_content").get<std::string>();
      msgs.push_back(msg);
    }
    const auto t = load_template(name);
    const bool gen = c.at("add_generation_prompt");
    CAPTURE(name);
    CAPTURE(c.at("conversation").get<std::string>());
    CAPTURE(gen);
    if (c.contains("error")) {
      // Jinja's raise_exception: Llama 2 requires alternating roles.
      CHECK(error_id([&] { (void)t.render(msgs, gen); }) == "llmc.data.122");
      ++errors;
    } else {
      CHECK(t.render(msgs, gen) == c.at("text").get<std::string>());
    }
    ++checked;
  }
  CHECK(checked == 160);
  CHECK(errors == 2);
}

TEST_CASE("chat templates: look-alike and unknown templates are rejected naming the file") {
  for (const char* name : {"unknown_mistral", "unknown_qwen15", "unknown_zephyr_gemma", "unknown_chatml_open_end"}) {
    CAPTURE(name);
    const auto info = llmc::tokenizer_info::from_directory(chat_dir(name));
    try {
      (void)llmc::chat_template::recognize(info.chat_template, "<s>", "</s>", info.chat_template_origin);
      FAIL("accepted");
    } catch (const llmc::config_error& e) {
      CHECK(e.id() == "llmc.data.124");
      CHECK(std::string(e.what()).find(name) != std::string::npos);
      CHECK(std::string(e.what()).find("text column") != std::string::npos);
    }
  }
  CHECK(error_id([] { (void)llmc::chat_template::recognize("{{ messages }}", "", "", "x.json"); }) == "llmc.data.124");
  CHECK(error_id([] { (void)llmc::chat_template::recognize("", "", "", "x.json"); }) == "llmc.data.124");
  // Two different literal default system prompts cannot be told apart without Jinja.
  const std::string two = "{% if a %}{{ '<|im_start|>system\\nOne.<|im_end|>\\n' }}{% else %}{{ '<|im_start|>system\\nTwo."
                          "<|im_end|>\\n' }}{% endif %}{% for message in messages %}{{ '<|im_start|>' + message['role'] + "
                          "'\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}";
  CHECK(error_id([&] { (void)llmc::chat_template::recognize(two, "", "", "x.json"); }) == "llmc.data.124");
}

TEST_CASE("chat templates: markers ignore formatting (whitespace, quotes, escape spelling)") {
  // The ChatML turn written with double quotes, odd spacing and a JSON-decoded real newline.
  const std::string src = "{%- for message in messages -%}{{- \"<|im_start|>\"+message[\"role\"] + \"\n\" +  message.content + "
                          "\"<|im_end|>\\n\" -}}{%- endfor -%}";
  const auto t = llmc::chat_template::recognize(src, "", "", "x.json");
  CHECK(t.family() == llmc::chat_template_family::chatml);
  CHECK(llmc::detail::canonical_template("{{ 'a' +  b }}\n{% if x and y %}") == "{{'a'+b}}\n{%if x and y%}");
  CHECK(llmc::detail::canonical_template("{# a comment #}{{ \"it's\" }}") == "{{'it\\'s'}}");
}

TEST_CASE("chat templates: role errors") {
  const auto z = load_template("zephyr");
  CHECK(error_id([&] { (void)z.render(std::vector<llmc::chat_message>{{"tool", "42"}}); }) == "llmc.data.121");
  CHECK(error_id([&] { (void)z.render(std::vector<llmc::chat_message>{}); }) == "llmc.data.120");
  const auto l2 = load_template("llama2");
  CHECK(error_id([&] {
          (void)l2.render(std::vector<llmc::chat_message>{{"system", "s"}, {"assistant", "a"}});
        }) == "llmc.data.122");
}

TEST_CASE("python strip semantics used by the templates") {
  CHECK(llmc::detail::python_strip("  \t\n a b \r\n") == "a b");
  CHECK(llmc::detail::python_strip("\xC2\xA0x\xE3\x80\x80") == "x");  // NBSP, ideographic space
  CHECK(llmc::detail::python_strip("\xE2\x80\x8Bx") == "\xE2\x80\x8Bx");  // U+200B is not whitespace in Python
  CHECK(llmc::detail::python_strip("") == "");
  CHECK(llmc::detail::python_strip(" \x1F ") == "");
}

TEST_CASE("tokenizer_info reads tokenizer_config.json") {
  const auto s = llmc::tokenizer_info::from_directory(llmc_test::tokenizer_dir("stories260k"));
  CHECK(s.bos_token == std::optional<std::string>("<s>"));
  CHECK(s.eos_token == std::optional<std::string>("</s>"));
  CHECK_FALSE(s.pad_token.has_value());
  CHECK(s.model_max_length == std::optional<std::int64_t>(512));
  CHECK(s.chat_template.empty());
  const auto l = llmc::tokenizer_info::from_directory(llmc_test::tokenizer_dir("llama2"));
  CHECK_FALSE(l.model_max_length.has_value());  // int(1e30) means "no limit"
  const auto q = llmc::tokenizer_info::from_directory(llmc_test::tokenizer_dir("qwen3"));
  CHECK_FALSE(q.bos_token.has_value());
  CHECK(q.pad_token == std::optional<std::string>("<|endoftext|>"));
  CHECK(q.model_max_length == std::optional<std::int64_t>(131072));
  CHECK(q.chat_template.size() > 1000);
  // A missing directory gives an empty info, not an error (the config is optional).
  const auto none = llmc::tokenizer_info::from_directory(llmc_test::test_data() / "datasets" / "no_such_dir");
  CHECK(none.chat_template.empty());
  CHECK(error_id([] { (void)llmc::tokenizer_info::from_config_json("{", "cfg.json"); }) == "llmc.data.130");
  CHECK(error_id([] { (void)llmc::tokenizer_info::from_config_json(R"({"eos_token": 5})", "cfg.json"); }) == "llmc.data.130");
  CHECK(error_id([] { (void)llmc::tokenizer_info::from_config_json(R"({"chat_template": [{"name": "tool_use", "template": "x"}]})",
                                                                   "cfg.json"); }) == "llmc.data.130");
  const auto named = llmc::tokenizer_info::from_config_json(
      R"({"eos_token": {"content": "</s>", "special": true}, "chat_template": [{"name": "default", "template": "T"}]})", "c.json");
  CHECK(named.eos_token == std::optional<std::string>("</s>"));
  CHECK(named.chat_template == "T");
}
