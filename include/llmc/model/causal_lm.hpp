// llmc/model/causal_lm.hpp — a whole Llama-family causal LM in fp32, for evaluation.
//
// embed_tokens -> decoder layers (decoder_layer.hpp) -> final RMSNorm -> lm_head, as transformers
// LlamaForCausalLM.forward does. A tied model (tie_word_embeddings) computes logits with the
// embedding matrix and never reads lm_head.weight, as transformers and vLLM do. The object owns
// its weights (loaded once, widened to fp32) and is copyable, so a compressed variant is a copy
// whose Linears were swapped (fake_quant.hpp) — each layer() is a decoder_layer_weights that may be
// edited between forwards. Sequential pipelines that must not hold the whole model use the
// per-layer loaders of weights.hpp with run_decoder_layer() instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/core/error.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/errors.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

class causal_lm {
 public:
  causal_lm() = default;
  /// Assembles a model from weights already in memory (tests, converted checkpoints).
  /// @throws shape_error llmc.model.111 when a part does not match the spec.
  causal_lm(decoder_spec spec, matrix<float> embed_tokens, std::vector<decoder_layer_weights> layers,
            std::vector<float> final_norm, std::optional<matrix<float>> lm_head)
      : spec_(std::move(spec)),
        embed_(std::move(embed_tokens)),
        layers_(std::move(layers)),
        norm_(std::move(final_norm)),
        head_(std::move(lm_head)) {
    const bool head_ok = spec_.tie_word_embeddings ? !head_.has_value()
                                                   : head_ && head_->rows() == spec_.vocab_size && head_->cols() == spec_.hidden_size;
    if (embed_.rows() != spec_.vocab_size || embed_.cols() != spec_.hidden_size || layers_.size() != spec_.num_layers ||
        norm_.size() != spec_.hidden_size || !head_ok) {
      LLMC_THROW(shape_error, model_errc::tensor_shape,
                 "causal_lm: the embedding, layers, final norm or lm_head (absent exactly when tied) do not match the spec");
    }
  }

  /// Loads every weight of a Hugging Face model folder.
  /// @throws the errors of model_directory::open, decoder_spec::from_config and load_decoder_layer
  static causal_lm load(const std::filesystem::path& dir) { return load(model_directory::open(dir)); }
  static causal_lm load(const model_directory& dir) {
    decoder_spec s = decoder_spec::from_config(dir.config());
    std::vector<decoder_layer_weights> layers;
    layers.reserve(s.num_layers);
    for (std::size_t i = 0; i < s.num_layers; ++i) layers.push_back(load_decoder_layer(dir, s, i));
    matrix<float> embed = load_embedding(dir, s);
    std::vector<float> norm = load_final_norm(dir, s);
    std::optional<matrix<float>> head;
    if (!s.tie_word_embeddings) head = load_lm_head(dir, s);
    return causal_lm(std::move(s), std::move(embed), std::move(layers), std::move(norm), std::move(head));
  }

  [[nodiscard]] const decoder_spec& spec() const noexcept { return spec_; }
  [[nodiscard]] std::size_t num_layers() const noexcept { return layers_.size(); }
  /// @throws shape_error llmc.model.124
  [[nodiscard]] decoder_layer_weights& layer(std::size_t i) { return layers_.at(check_layer(i)); }
  [[nodiscard]] const decoder_layer_weights& layer(std::size_t i) const { return layers_.at(check_layer(i)); }
  [[nodiscard]] const matrix<float>& embed_tokens() const noexcept { return embed_; }
  [[nodiscard]] const std::vector<float>& final_norm() const noexcept { return norm_; }
  /// The output projection: lm_head.weight, or the embedding when tied.
  [[nodiscard]] const matrix<float>& lm_head() const noexcept { return head_ ? *head_ : embed_; }

  /// Embeds `ids` ([batch * seq], row-major by sequence) into a hidden_batch.
  /// @throws shape_error llmc.model.121 (sizes), 122 (an id outside the vocabulary)
  [[nodiscard]] hidden_batch embed(std::span<const std::int32_t> ids, std::size_t batch, std::size_t seq,
                                   std::vector<std::uint8_t> mask = {}, std::vector<std::int64_t> positions = {}) const {
    if (ids.size() != batch * seq) {
      LLMC_THROW(shape_error, model_errc::mask_shape,
                 "embed: " + std::to_string(ids.size()) + " token ids for batch " + std::to_string(batch) + " x seq " +
                     std::to_string(seq));
    }
    hidden_batch hb;
    hb.batch = batch;
    hb.seq = seq;
    hb.mask = std::move(mask);
    hb.positions = std::move(positions);
    hb.states = matrix<float>(ids.size(), spec_.hidden_size);
    for (std::size_t r = 0; r < ids.size(); ++r) {
      const std::int32_t id = ids[r];
      if (id < 0 || static_cast<std::size_t>(id) >= spec_.vocab_size) {
        LLMC_THROW(shape_error, model_errc::token_range,
                   "embed: token id " + std::to_string(id) + " at position " + std::to_string(r) + " is outside the vocabulary [0, " +
                       std::to_string(spec_.vocab_size) + "); the tokenizer does not belong to this model");
      }
      std::copy_n(&embed_(static_cast<std::size_t>(id), 0), spec_.hidden_size, &hb.states(r, 0));
    }
    detail::check_batch(spec_, hb);
    return hb;
  }

  /// Runs every decoder layer on `hb` in place; commits the new tokens to `cache` when given.
  void run_layers(hidden_batch& hb, const forward_hooks& hooks = {}, kv_cache* cache = nullptr,
                  forward_stats* stats = nullptr) const {
    for (const auto& l : layers_) run_decoder_layer(spec_, l, hb, hooks, cache, stats);
    if (cache != nullptr) cache->commit(hb.seq);
  }

  /// Final norm and lm_head: logits [rows, vocab] of the given rows of hb (all rows when empty).
  [[nodiscard]] matrix<float> logits(const hidden_batch& hb, std::span<const std::size_t> rows = {}) const {
    const std::size_t n = rows.empty() ? hb.tokens() : rows.size();
    matrix<float> x(n, spec_.hidden_size);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t r = rows.empty() ? i : rows[i];
      std::copy_n(&hb.states(r, 0), spec_.hidden_size, &x(i, 0));
    }
    detail::rms_norm_rows(cview(x), norm_, spec_.rms_norm_eps, x.view());
    matrix<float> out(n, spec_.vocab_size);
    dense_kernels<host_backend>::gemm(1.0f, cview(x), cview(lm_head()).transposed(), 0.0f, out.view());
    return out;
  }

  /// Logits of every position: embed, all layers, final norm, head.
  [[nodiscard]] matrix<float> forward(std::span<const std::int32_t> ids, std::size_t batch, std::size_t seq,
                                      std::vector<std::uint8_t> mask = {}, const forward_hooks& hooks = {},
                                      kv_cache* cache = nullptr, forward_stats* stats = nullptr) const {
    hidden_batch hb = embed(ids, batch, seq, std::move(mask));
    run_layers(hb, hooks, cache, stats);
    return logits(hb);
  }

 private:
  std::size_t check_layer(std::size_t i) const {
    if (i >= layers_.size()) {
      LLMC_THROW(shape_error, model_errc::layer_index,
                 "layer " + std::to_string(i) + " does not exist (" + std::to_string(layers_.size()) + " layers)");
    }
    return i;
  }

  decoder_spec spec_;
  matrix<float> embed_;
  std::vector<decoder_layer_weights> layers_;
  std::vector<float> norm_;
  std::optional<matrix<float>> head_;
};

}  // namespace llmc
