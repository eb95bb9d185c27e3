// config.json / generation_config.json parsing, per-architecture defaults, writing back.
#include <doctest/doctest.h>

#include <string>

#include "io_test_util.hpp"
#include "llmc/io/model_config.hpp"

using namespace llmc;
using iotest::fixtures;

TEST_CASE("stories260k config.json") {
  const auto c = load_model_config(fixtures / "models/stories260k");
  CHECK(c.architecture == "LlamaForCausalLM");
  CHECK(c.model_type == "llama");
  CHECK(c.hidden_size == 64);
  CHECK(c.intermediate_size == 172);
  CHECK(c.num_hidden_layers == 5);
  CHECK(c.num_attention_heads == 8);
  CHECK(c.num_key_value_heads == 4);
  CHECK(c.head_dim == 8);
  CHECK(c.vocab_size == 512);
  CHECK(c.max_position_embeddings == 512);
  CHECK(c.rms_norm_eps == 1e-5);
  CHECK(c.rope_theta == 10000.0);
  CHECK_FALSE(c.rope_scaling.has_value());
  CHECK(c.tie_word_embeddings);
  CHECK_FALSE(c.attention_bias);
  CHECK_FALSE(c.mlp_bias);
  CHECK(c.hidden_act == "silu");
  CHECK(c.torch_dtype == "float32");
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_ids == std::vector<std::int64_t>{2});
  CHECK(load_model_config(fixtures / "models/stories260k-bf16/config.json").torch_dtype == "bfloat16");
}

TEST_CASE("to_json writes what transformers writes (json.dumps(indent=2, sort_keys=True) + newline)") {
  const auto c = load_model_config(fixtures / "models/stories260k");
  // Produced by CPython 3.11 from the fixture: json.dumps(json.load(f), indent=2, sort_keys=True) + "\n".
  const std::string expected = R"({
  "architectures": [
    "LlamaForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "head_dim": 8,
  "hidden_act": "silu",
  "hidden_size": 64,
  "initializer_range": 0.02,
  "intermediate_size": 172,
  "max_position_embeddings": 512,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 8,
  "num_hidden_layers": 5,
  "num_key_value_heads": 4,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 10000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "float32",
  "use_cache": true,
  "vocab_size": 512
}
)";
  CHECK(c.to_json() == expected);
  nlohmann::json q;
  q["quant_method"] = "compressed-tensors";
  q["format"] = "pack-quantized";
  q["ignore"] = {"lm_head"};
  const std::string with = c.to_json_with_quantization(q);
  CHECK(with.find("  \"quantization_config\": {\n    \"format\": \"pack-quantized\",\n    \"ignore\": [\n"
                  "      \"lm_head\"\n    ],\n    \"quant_method\": \"compressed-tensors\"\n  },\n  \"rms_norm_eps\"") !=
        std::string::npos);
  // The result parses back to the same config plus the new key.
  const auto back = parse_model_config(with, "back");
  CHECK(back.raw["quantization_config"] == q);
  CHECK(back.hidden_size == 64);
}

TEST_CASE("per-architecture defaults follow the transformers config classes") {
  const std::string base = R"("hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 2,
                              "num_attention_heads": 16, "vocab_size": 1000)";
  SUBCASE("Llama: kv heads = heads, head_dim = hidden/heads, eps 1e-6, max pos 2048, bos 1 eos 2") {
    const auto c = parse_model_config(R"({"architectures": ["LlamaForCausalLM"], )" + base + "}", "t");
    CHECK(c.model_type == "llama");
    CHECK(c.num_key_value_heads == 16);
    CHECK(c.head_dim == 64);
    CHECK(c.rms_norm_eps == 1e-6);
    CHECK(c.max_position_embeddings == 2048);
    CHECK(c.rope_theta == 10000.0);
    CHECK_FALSE(c.tie_word_embeddings);
    CHECK(c.bos_token_id == 1);
    CHECK(c.eos_token_ids == std::vector<std::int64_t>{2});
    CHECK(c.torch_dtype.empty());
  }
  SUBCASE("Mistral: 8 kv heads, max pos 131072") {
    const auto c = parse_model_config(R"({"architectures": ["MistralForCausalLM"], )" + base + "}", "t");
    CHECK(c.num_key_value_heads == 8);
    CHECK(c.head_dim == 64);
    CHECK(c.max_position_embeddings == 131072);
    CHECK_FALSE(c.attention_bias);
  }
  SUBCASE("Qwen2: 32 kv heads... and q/k/v biases always") {
    const auto c = parse_model_config(
        R"({"architectures": ["Qwen2ForCausalLM"], "num_key_value_heads": 2, "attention_bias": false, )" + base + "}", "t");
    CHECK(c.model_type == "qwen2");
    CHECK(c.num_key_value_heads == 2);
    CHECK(c.attention_bias);
    CHECK(c.max_position_embeddings == 32768);
    CHECK_FALSE(c.bos_token_id.has_value());
    CHECK(c.eos_token_ids.empty());
  }
  SUBCASE("Qwen3: head_dim 128 by default, independent of hidden/heads") {
    const auto c = parse_model_config(R"({"architectures": ["Qwen3ForCausalLM"], "num_key_value_heads": 8, )" + base +
                                          R"(, "eos_token_id": [151645, 151643], "bos_token_id": null, "dtype": "bfloat16"})",
                                      "t");
    CHECK(c.head_dim == 128);
    CHECK(c.num_key_value_heads == 8);
    CHECK(c.eos_token_ids == std::vector<std::int64_t>{151645, 151643});
    CHECK_FALSE(c.bos_token_id.has_value());
    CHECK(c.torch_dtype == "bfloat16");
  }
}

TEST_CASE("rope scaling: 4.x rope_scaling (rope_type or legacy type) and 5.x rope_parameters") {
  const std::string base = R"("architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
                              "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10)";
  const auto a = parse_model_config("{" + base + R"(, "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3",
      "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})",
                                    "t");
  REQUIRE(a.rope_scaling.has_value());
  CHECK(a.rope_scaling->rope_type == "llama3");
  CHECK(a.rope_scaling->factor == 8.0);
  CHECK(a.rope_scaling->low_freq_factor == 1.0);
  CHECK(a.rope_scaling->high_freq_factor == 4.0);
  CHECK(a.rope_scaling->original_max_position_embeddings == 8192);
  CHECK(a.rope_theta == 500000.0);
  const auto b = parse_model_config("{" + base + R"(, "rope_scaling": {"type": "linear", "factor": 2}})", "t");
  REQUIRE(b.rope_scaling.has_value());
  CHECK(b.rope_scaling->rope_type == "linear");
  CHECK(b.rope_scaling->factor == 2.0);
  CHECK_FALSE(b.rope_scaling->low_freq_factor.has_value());
  const auto c = parse_model_config("{" + base + R"(, "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}})", "t");
  CHECK(c.rope_theta == 1000000.0);
  CHECK_FALSE(c.rope_scaling.has_value());
  const auto d = parse_model_config(
      "{" + base + R"(, "rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0}})", "t");
  REQUIRE(d.rope_scaling.has_value());
  CHECK(d.rope_scaling->rope_type == "yarn");
  CHECK(d.rope_scaling->factor == 4.0);
  CHECK_IO_ERROR(parse_model_config("{" + base + R"(, "rope_scaling": {"factor": 2}})", "t"), "llmc.io.141");
  CHECK_IO_ERROR(parse_model_config("{" + base + R"(, "rope_scaling": 3})", "t"), "llmc.io.141");
}

TEST_CASE("config errors") {
  const std::string sizes = R"("hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                               "num_attention_heads": 4, "vocab_size": 10)";
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["GPT2LMHeadModel"], )" + sizes + "}", "t"), "llmc.io.142");
  try {
    (void)parse_model_config(R"({"architectures": ["PhiForCausalLM"], )" + sizes + "}", "cfg.json");
    FAIL("no throw");
  } catch (const io_error& e) {
    const std::string w = e.what();
    CHECK(w.find("PhiForCausalLM") != std::string::npos);
    CHECK(w.find("LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM") != std::string::npos);
  }
  CHECK_IO_ERROR(parse_model_config("{" + sizes + "}", "t"), "llmc.io.141");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": [], )" + sizes + "}", "t"), "llmc.io.141");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64})", "t"), "llmc.io.141");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": "64",
      "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10})", "t"),
                 "llmc.io.141");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64.5,
      "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10})", "t"),
                 "llmc.io.141");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "tie_word_embeddings": 1, )" + sizes + "}", "t"),
                 "llmc.io.141");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "model_type": "qwen2", )" + sizes + "}", "t"),
                 "llmc.io.143");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "num_key_value_heads": 3, )" + sizes + "}", "t"),
                 "llmc.io.143");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 66,
      "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10})", "t"),
                 "llmc.io.143");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 0,
      "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10})", "t"),
                 "llmc.io.143");
  CHECK_IO_ERROR(parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "architectures": ["X"], )" + sizes + "}", "t"),
                 "llmc.io.107");
  CHECK_IO_ERROR(parse_model_config("[1]", "t"), "llmc.io.141");
  CHECK_IO_ERROR(parse_model_config("{", "t"), "llmc.io.106");
  CHECK_IO_ERROR(load_model_config(iotest::data_dir / "no_such_folder/config.json"), "llmc.io.140");
}

TEST_CASE("generation_config.json") {
  const auto g = load_generation_config(fixtures / "models/stories260k/generation_config.json");
  CHECK(g.bos_token_id == 1);
  CHECK(g.eos_token_ids == std::vector<std::int64_t>{2});
  CHECK_FALSE(g.pad_token_id.has_value());
  CHECK_FALSE(g.do_sample);
  const auto h = parse_generation_config(R"({"eos_token_id": [1, 7], "pad_token_id": 0, "do_sample": true})", "t");
  CHECK(h.eos_token_ids == std::vector<std::int64_t>{1, 7});
  CHECK(h.pad_token_id == 0);
  CHECK(h.do_sample);
  CHECK_IO_ERROR(parse_generation_config(R"({"do_sample": "yes"})", "t"), "llmc.io.141");
  CHECK_IO_ERROR(load_generation_config(iotest::data_dir / "none.json"), "llmc.io.140");
}
