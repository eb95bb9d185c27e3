// targets / ignore matching with compressed-tensors' rules and priorities.
#include <doctest/doctest.h>

#include "llmc/pipeline/targets.hpp"

using namespace llmc;
using namespace llmc::pipeline;

namespace {
module_ref linear(const std::string& name) { return {name, {"Linear", "Module"}}; }
}  // namespace

TEST_CASE("patterns: class names, exact names, re: anchored at the start only") {
  const auto q = linear("model.layers.0.self_attn.q_proj");
  CHECK(match("Linear", q) == match_kind::class_name);
  CHECK(match("model.layers.0.self_attn.q_proj", q) == match_kind::exact);
  CHECK(match("re:.*q_proj", q) == match_kind::regex);
  CHECK(match("re:model\\.layers\\.0", q) == match_kind::regex);  // re.match: a prefix match suffices
  CHECK(match("re:layers\\.0", q) == match_kind::none);           // ... but it must match at the start
  CHECK(match("re:.*k_proj$", q) == match_kind::none);
  CHECK(match("q_proj", q) == match_kind::none);  // not the full name, not a class
  CHECK(match("Embedding", q) == match_kind::none);
  try {
    (void)match("re:([", q);
    FAIL("an invalid regex must throw");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.recipe.120");
  }
}

TEST_CASE("config group resolution: ignore, specificity, lexicographic order, later group wins") {
  std::vector<config_group> groups{
      {"group_0", {"Linear"}, runtime_scheme::from(presets::W4A16{})},
      {"group_1", {"re:.*down_proj$"}, runtime_scheme::from(presets::W8A16_CHANNEL{})},
  };
  const std::vector<std::string> ignore{"lm_head", "re:.*gate$"};
  CHECK(resolve_config_group(groups, ignore, linear("model.layers.1.mlp.up_proj")) == 0u);
  CHECK(resolve_config_group(groups, ignore, linear("model.layers.1.mlp.down_proj")) == 1u);  // regex beats class name
  CHECK(!resolve_config_group(groups, ignore, linear("lm_head")).has_value());
  CHECK(!resolve_config_group(groups, ignore, linear("model.layers.3.mlp.gate")).has_value());
  CHECK(!resolve_config_group(groups, ignore, module_ref{"model.norm", {"LlamaRMSNorm", "Module"}}).has_value());
  // An exact name beats a regex.
  groups.push_back({"group_2", {"model.layers.1.mlp.down_proj"}, runtime_scheme::from(presets::FP8_DYNAMIC{})});
  CHECK(resolve_config_group(groups, ignore, linear("model.layers.1.mlp.down_proj")) == 2u);
  // Among regexes, the lexicographically first matching pattern wins (not the config order).
  std::vector<config_group> rx{{"a", {"re:.*proj"}, {}}, {"b", {"re:.*down.*"}, {}}};
  CHECK(resolve_config_group(rx, {}, linear("x.down_proj")) == 1u);  // "re:.*down.*" sorts before "re:.*proj" ('d' < 'p')
  // The same target in a later group overrides the earlier one.
  std::vector<config_group> dup{{"a", {"Linear"}, {}}, {"b", {"Linear"}, {}}};
  CHECK(resolve_config_group(dup, {}, linear("x")) == 1u);
}
