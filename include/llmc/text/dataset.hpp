// llmc/text/dataset.hpp — calibration sets: tokenized, sampled, batched, with an attention mask.
//
// Follows LLM Compressor's calibration data path (spec §1.1 dataset arguments, §1.3; [LC]
// src/llmcompressor/transformers/data/base.py TextGenerationDataset, datasets/utils.py):
//  1. pad token := tokenizer_config.json's pad_token, else EOS;
//  2. max_seq_length := min(user value, model_max_length) (a warning when clipped), or
//     model_max_length when unset;
//  3. every sample is tokenized with the tokenizer's special tokens (BOS for Llama) and truncated
//     to max_seq_length as Hugging Face truncation does: the special tokens are kept, the text is
//     cut; chat conversations are first rendered with the model's chat template (chat_template.hpp),
//     or LLM Compressor's default when the tokenizer has none;
//  4. concatenate: all samples (each already truncated, in file order) are joined and cut into
//     max_seq_length chunks, the remainder dropped; a text_document source is cut the same way
//     (one BOS for the whole document, as the fixture's activation windows);
//  5. N samples are drawn (dataset_sampling.hpp: seeded shuffle, the reference's longest-first, or
//     file order); asking for more than there are clips N with a warning (llmc.data.201), as the
//     reference does;
//  6. consecutive groups of batch_size rows form a batch (the last may be smaller), right-padded.
// Where llmc departs from the reference, on purpose:
//  - Padding never enters the statistics. LLM Compressor pads every sample to max_seq_length by
//    default and feeds the pad tokens through the Linear layers into GPTQ Hessians, observers and
//    AWQ/SmoothQuant statistics (spec §1.3, "Consequence"). Every batch here carries an
//    attention_mask (1 = real token, 0 = padding) that consumers must use to drop padded rows of
//    activations from statistics and from attention; calibration_set::real_tokens counts what
//    remains. Padding is always on the right, so real tokens keep positions 0..len-1 and a padded
//    row computes exactly what the unpadded sequence computes.
//  - Default padding is to the longest row of each batch (no padding at batch_size 1); padding to
//    max_seq_length (the reference's pad_to_max_length) and the reference's "truncation" collator
//    (cut every row to the shortest in its batch) are available as padding_mode values.
//  - Shuffling is seeded and platform-independent; longest_first breaks ties by file order.
//  - Chat text that already starts with BOS (Llama-2 and Llama-3 templates write it) is not given a
//    second BOS (chat_special_tokens::if_missing); the reference tokenizes the rendered text with
//    add_special_tokens=True and so doubles it (chat_special_tokens::always reproduces that).
// Errors: llmc.data.110 max_seq_length <= 0, .111 batch_size 0, .112 no max_seq_length and no
// usable model_max_length, .123 chat data but no chat template (default disabled), .131 padding
// needed but no pad/EOS token, .107 pre-tokenized id outside the vocabulary, .106 nothing left
// (e.g. fewer tokens than one chunk), plus those of dataset_source.hpp and chat_template.hpp.
// Warnings (dataset_warning, through calibration_options::on_warning): .201 fewer samples than
// asked, .202 max_seq_length clipped to model_max_length, .203 samples truncated, .204 LLM
// Compressor's default chat template used, .205 shuffled order with batch_size > 1 (rows of very
// different lengths share a batch: much padding, or much truncation with truncate_to_shortest; the
// reference warns likewise).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/tensor/matrix_view.hpp"
#include "llmc/text/chat_template.hpp"
#include "llmc/text/dataset_sampling.hpp"
#include "llmc/text/dataset_source.hpp"
#include "llmc/text/dataset_tokenizer_info.hpp"
#include "llmc/text/dataset_windows.hpp"
#include "llmc/text/tokenizer.hpp"

namespace llmc {

/// A non-fatal condition met while building a calibration set.
struct dataset_warning {
  std::string id;       ///< "llmc.data.2xx"
  std::string message;
};
using dataset_warning_sink = std::function<void(const dataset_warning&)>;

/// How rows of a batch are brought to one length.
enum class padding_mode {
  longest,               ///< right-pad to the longest row of the batch
  max_length,            ///< right-pad every row to max_seq_length (the reference's pad_to_max_length)
  truncate_to_shortest,  ///< cut every row to the shortest of the batch (the reference's "truncation" collator)
};

/// Which special tokens a rendered chat text receives.
enum class chat_special_tokens {
  if_missing,  ///< add the tokenizer's BOS/EOS affixes unless the rendered text already has them
  always,      ///< always add them (LLM Compressor: tokenizer(text) with add_special_tokens=True)
  never,       ///< the rendered text alone (transformers' apply_chat_template(tokenize=True))
};

/// Calibration options (LLM Compressor's DatasetArguments, spec §1.1, where they apply).
struct calibration_options {
  /// Samples to draw; 0 means all. Reference default 512.
  std::size_t num_calibration_samples = 512;
  /// Tokens per sample; unset means tokenizer_config.json's model_max_length (reference HEAD).
  std::optional<std::int64_t> max_seq_length;
  /// Reference default: shuffled (shuffle_calibration_samples=True).
  sample_order order = sample_order::shuffled;
  std::uint64_t seed = 42;
  /// Join samples and cut into max_seq_length chunks (reference concatenate_data).
  bool concatenate = false;
  std::size_t batch_size = 1;
  padding_mode padding = padding_mode::longest;
  /// Add the tokenizer's special tokens (BOS) to text samples and documents (the reference does).
  bool add_special_tokens = true;
  chat_special_tokens chat_specials = chat_special_tokens::if_missing;
  /// Insert an empty system message when a conversation has none (the reference's ultrachat loader).
  bool chat_insert_empty_system = false;
  /// Use LLM Compressor's default template when the tokenizer has none (the reference does).
  bool allow_default_chat_template = true;
  dataset_warning_sink on_warning;
};

/// One batch: row-major [rows, seq_len] token ids and mask; padding is on the right.
struct calibration_batch {
  std::size_t rows = 0;
  std::size_t seq_len = 0;
  std::vector<token_id> input_ids;            ///< [rows * seq_len]
  std::vector<std::uint8_t> attention_mask;   ///< [rows * seq_len], 1 = real token, 0 = padding
  std::vector<std::size_t> lengths;           ///< real tokens per row (the mask is 1 on [0, length))

  [[nodiscard]] std::span<const token_id> ids(std::size_t r) const {
    return std::span<const token_id>(input_ids).subspan(r * seq_len, seq_len);
  }
  [[nodiscard]] std::span<const std::uint8_t> mask(std::size_t r) const {
    return std::span<const std::uint8_t>(attention_mask).subspan(r * seq_len, seq_len);
  }
  [[nodiscard]] matrix_view<const token_id> ids_view() const { return {input_ids.data(), rows, seq_len}; }
  [[nodiscard]] matrix_view<const std::uint8_t> mask_view() const { return {attention_mask.data(), rows, seq_len}; }
  [[nodiscard]] std::size_t real_tokens() const noexcept {
    std::size_t n = 0;
    for (const auto l : lengths) n += l;
    return n;
  }
};

/// The calibration data: batches in use order plus bookkeeping.
struct calibration_set {
  std::vector<calibration_batch> batches;
  std::int64_t max_seq_length = 0;        ///< as resolved
  std::optional<token_id> pad_token_id;   ///< the id padding uses (resolved when padding occurred)
  std::size_t available_samples = 0;      ///< samples (or chunks) there were to draw from
  std::vector<std::size_t> sample_indices;  ///< per row, in use order: index among the available samples
  std::vector<std::size_t> source_lines;    ///< per row: line/record of the source sample, 0 for chunks
  std::size_t real_tokens = 0;            ///< mask ones over all batches
  std::size_t padded_tokens = 0;          ///< mask zeros over all batches
  std::size_t truncated_samples = 0;      ///< samples cut to max_seq_length

  [[nodiscard]] std::size_t num_samples() const noexcept { return sample_indices.size(); }
};

namespace detail {

inline void warn(const calibration_options& o, std::string id, std::string message) {
  if (o.on_warning) o.on_warning(dataset_warning{std::move(id), std::move(message)});
}

/// The spelling of a special token: tokenizer_config.json's, else the vocabulary's for `id`.
inline std::string special_token_string(const std::optional<std::string>& configured, std::optional<token_id> id,
                                        const tokenizer& tok) {
  if (configured) return *configured;
  if (id) {
    if (auto s = tok.id_to_token(*id)) return *s;
  }
  return {};
}

inline std::int64_t resolve_max_seq_length(const calibration_options& o, const tokenizer_info& info,
                                           const std::string& origin) {
  if (o.max_seq_length) {
    const std::int64_t v = *o.max_seq_length;
    if (v <= 0) {
      LLMC_THROW(config_error, "llmc.data.110",
                 origin + ": max_seq_length must be positive, got " + std::to_string(v));
    }
    if (info.model_max_length && v > *info.model_max_length) {
      warn(o, "llmc.data.202",
           "max_seq_length " + std::to_string(v) + " is larger than the tokenizer's model_max_length " +
               std::to_string(*info.model_max_length) + " (" + info.config_path.string() + "); using " +
               std::to_string(*info.model_max_length));
      return *info.model_max_length;
    }
    return v;
  }
  if (info.model_max_length) return *info.model_max_length;
  LLMC_THROW(config_error, "llmc.data.112",
             origin + ": max_seq_length is not set and " + info.config_path.string() +
                 " gives no usable model_max_length; set calibration_options::max_seq_length (e.g. 512 or 2048)");
}

/// prefix + content + suffix cut to max_len the way Hugging Face truncation does: the special
/// tokens stay and the content loses its tail. Returns whether anything was cut.
inline bool assemble_truncated(std::vector<token_id>& out, std::span<const token_id> prefix,
                               std::span<const token_id> content, std::span<const token_id> suffix,
                               std::size_t max_len) {
  const std::size_t specials = prefix.size() + suffix.size();
  const std::size_t total = specials + content.size();
  const std::size_t keep = total <= max_len ? content.size() : (max_len > specials ? max_len - specials : 0);
  out.clear();
  out.reserve(std::min(total, max_len));
  out.insert(out.end(), prefix.begin(), prefix.end());
  out.insert(out.end(), content.begin(), content.begin() + static_cast<std::ptrdiff_t>(keep));
  out.insert(out.end(), suffix.begin(), suffix.end());
  if (out.size() > max_len) out.resize(max_len);
  return total > max_len;
}

inline std::optional<chat_template> resolve_chat_template(const tokenizer& tok, const tokenizer_info& info,
                                                          const calibration_options& o, const std::string& origin) {
  const std::string bos = special_token_string(info.bos_token, tok.bos_token_id(), tok);
  const std::string eos = special_token_string(info.eos_token, tok.eos_token_id(), tok);
  if (!info.chat_template.empty()) return chat_template::recognize(info.chat_template, bos, eos, info.chat_template_origin);
  if (!o.allow_default_chat_template) {
    LLMC_THROW(config_error, "llmc.data.123",
               origin + ": the records hold chat messages but " + info.config_path.string() +
                   " has no chat_template; allow LLM Compressor's default (allow_default_chat_template) or use a "
                   "text column");
  }
  warn(o, "llmc.data.204",
       info.config_path.string() + " has no chat_template; using LLM Compressor's default (<|system|>/<|user|>/"
                                   "<|assistant|> turns ending with the EOS token)");
  return chat_template::llmcompressor_default(eos, "llmcompressor default chat template");
}

/// Rethrows an llmc error with the sample's location in front of its message.
template <class E>
[[noreturn]] inline void rethrow_at(const E& e, const std::string& where) {
  std::string msg = e.what();
  const std::string tag = "[" + e.id() + "] ";
  if (msg.starts_with(tag)) msg.erase(0, tag.size());
  LLMC_THROW(E, e.id(), where + ": " + msg);
}

}  // namespace detail

/// Tokenizes every sample of `ds` (chat rendered, special tokens added, truncated to max_len), in
/// file order. A text_document source yields its max_len chunks instead. `truncated` receives the
/// number of samples that were cut.
/// @throws as build_calibration_set.
[[nodiscard]] inline std::vector<std::vector<token_id>> tokenize_samples(const raw_dataset& ds, const tokenizer& tok,
                                                                         const tokenizer_info& info,
                                                                         const calibration_options& o,
                                                                         std::size_t max_len, std::size_t& truncated) {
  truncated = 0;
  const std::string file = ds.path.string();
  if (ds.format == dataset_format::text_document) {
    std::vector<std::vector<token_id>> chunks;
    auto ids = tok.encode(ds.samples.front().text, o.add_special_tokens);
    if (ids.size() < max_len) {
      LLMC_THROW(config_error, "llmc.data.106",
                 file + ": the document has " + std::to_string(ids.size()) + " tokens, fewer than one chunk of " +
                     std::to_string(max_len) + " (the remainder is dropped); lower max_seq_length or read it as "
                     "text_lines");
    }
    window_options w;
    w.window = static_cast<std::int64_t>(max_len);
    for (auto& win : make_token_windows(std::move(ids), w, file).windows) chunks.push_back(std::move(win.ids));
    return chunks;
  }

  std::optional<chat_template> tmpl;
  for (const auto& s : ds.samples) {
    if (s.kind == record_schema::chat) {
      tmpl = detail::resolve_chat_template(tok, info, o, file);
      break;
    }
  }
  const auto affixes = tok.special_affixes();  // not a structured binding: it is captured below
  const std::vector<token_id>& prefix = affixes.first;
  const std::vector<token_id>& suffix = affixes.second;
  const auto vocab = tok.vocab_size();
  std::vector<std::vector<token_id>> out(ds.samples.size());
  std::vector<unsigned char> cut(ds.samples.size(), 0);
  const std::size_t n = ds.samples.size();
  parallel_for_chunks(n, parallel_chunks(n, 16), [&](std::size_t, std::size_t b, std::size_t e) {
    std::vector<token_id> content;
    for (std::size_t i = b; i < e; ++i) {
      const raw_sample& s = ds.samples[i];
      switch (s.kind) {
        case record_schema::pretokenized: {
          for (std::size_t k = 0; k < s.input_ids.size(); ++k) {
            if (static_cast<std::size_t>(s.input_ids[k]) >= vocab) {
              LLMC_THROW(io_error, "llmc.data.107",
                         ds.where(i) + ": input_ids[" + std::to_string(k) + "] = " + std::to_string(s.input_ids[k]) +
                             " is outside the tokenizer's vocabulary of " + std::to_string(vocab) + " tokens");
            }
          }
          const std::size_t keep = std::min(s.input_ids.size(), max_len);
          out[i].assign(s.input_ids.begin(), s.input_ids.begin() + static_cast<std::ptrdiff_t>(keep));
          cut[i] = s.input_ids.size() > max_len;
          break;
        }
        case record_schema::chat: {
          std::vector<chat_message> msgs;
          if (o.chat_insert_empty_system && (s.messages.empty() || s.messages.front().role != "system"))
            msgs.push_back({"system", ""});
          msgs.insert(msgs.end(), s.messages.begin(), s.messages.end());
          std::string text;
          try {
            text = tmpl->render(msgs);
          } catch (const config_error& err) {
            detail::rethrow_at(err, ds.where(i));
          }
          content = tok.encode(text, false);
          bool add_prefix = false, add_suffix = false;
          switch (o.chat_specials) {
            case chat_special_tokens::always: add_prefix = add_suffix = true; break;
            case chat_special_tokens::never: break;
            case chat_special_tokens::if_missing:
              add_prefix = !(content.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), content.begin()));
              add_suffix = !(content.size() >= suffix.size() &&
                             std::equal(suffix.begin(), suffix.end(), content.end() - static_cast<std::ptrdiff_t>(suffix.size())));
              break;
          }
          cut[i] = detail::assemble_truncated(out[i], add_prefix ? std::span<const token_id>(prefix) : std::span<const token_id>(),
                                              content, add_suffix ? std::span<const token_id>(suffix) : std::span<const token_id>(),
                                              max_len);
          break;
        }
        default: {
          content = tok.encode(s.text, false);
          const bool sp = o.add_special_tokens;
          cut[i] = detail::assemble_truncated(out[i], sp ? std::span<const token_id>(prefix) : std::span<const token_id>(),
                                              content, sp ? std::span<const token_id>(suffix) : std::span<const token_id>(),
                                              max_len);
          break;
        }
      }
    }
  });
  for (const auto c : cut) truncated += c;
  return out;
}

/// Joins `sequences` in order and cuts the stream into chunks of `len` tokens; the remainder is
/// dropped (reference group_text).
[[nodiscard]] inline std::vector<std::vector<token_id>> concatenate_chunks(const std::vector<std::vector<token_id>>& sequences,
                                                                           std::size_t len) {
  std::size_t total = 0;
  for (const auto& s : sequences) total += s.size();
  std::vector<std::vector<token_id>> chunks;
  if (len == 0) return chunks;
  chunks.reserve(total / len);
  std::vector<token_id> cur;
  cur.reserve(len);
  for (const auto& s : sequences) {
    for (const token_id t : s) {
      cur.push_back(t);
      if (cur.size() == len) {
        chunks.push_back(std::move(cur));
        cur = {};
        cur.reserve(len);
      }
    }
  }
  return chunks;
}

/// Batches `sequences[order[k]]` in groups of batch_size with the given padding.
/// @throws llmc::config_error llmc.data.131 when padding is needed and `pad` is empty.
[[nodiscard]] inline std::vector<calibration_batch> make_batches(const std::vector<std::vector<token_id>>& sequences,
                                                                 std::span<const std::size_t> order,
                                                                 std::size_t batch_size, padding_mode mode,
                                                                 std::size_t max_len, std::optional<token_id> pad,
                                                                 const std::string& origin = "dataset") {
  std::vector<calibration_batch> batches;
  for (std::size_t b = 0; b < order.size(); b += batch_size) {
    const std::size_t rows = std::min(batch_size, order.size() - b);
    std::size_t longest = 0, shortest = SIZE_MAX;
    for (std::size_t r = 0; r < rows; ++r) {
      longest = std::max(longest, sequences[order[b + r]].size());
      shortest = std::min(shortest, sequences[order[b + r]].size());
    }
    calibration_batch cb;
    cb.rows = rows;
    cb.seq_len = mode == padding_mode::max_length ? max_len : mode == padding_mode::longest ? longest : shortest;
    cb.input_ids.assign(rows * cb.seq_len, 0);
    cb.attention_mask.assign(rows * cb.seq_len, 0);
    for (std::size_t r = 0; r < rows; ++r) {
      const auto& s = sequences[order[b + r]];
      const std::size_t len = std::min(s.size(), cb.seq_len);
      if (len < cb.seq_len && !pad) {
        LLMC_THROW(config_error, "llmc.data.131",
                   origin + ": a batch needs padding but the tokenizer has neither a pad_token nor an eos_token; use "
                            "batch_size 1, padding_mode::truncate_to_shortest, or a tokenizer_config.json with pad_token");
      }
      std::copy_n(s.begin(), len, cb.input_ids.begin() + static_cast<std::ptrdiff_t>(r * cb.seq_len));
      std::fill_n(cb.input_ids.begin() + static_cast<std::ptrdiff_t>(r * cb.seq_len + len), cb.seq_len - len,
                  pad.value_or(0));
      std::fill_n(cb.attention_mask.begin() + static_cast<std::ptrdiff_t>(r * cb.seq_len), len, std::uint8_t{1});
      cb.lengths.push_back(len);
    }
    batches.push_back(std::move(cb));
  }
  return batches;
}

/// The pad id: tokenizer_config.json's pad_token, else EOS; nullopt when neither exists.
/// @throws llmc::config_error llmc.data.131 when pad_token names no token of the vocabulary.
[[nodiscard]] inline std::optional<token_id> resolve_pad_token(const tokenizer& tok, const tokenizer_info& info) {
  if (info.pad_token) {
    if (auto id = tok.token_to_id(*info.pad_token)) return id;
    LLMC_THROW(config_error, "llmc.data.131",
               info.config_path.string() + ": pad_token \"" + *info.pad_token + "\" is not in the vocabulary");
  }
  return tok.eos_token_id();
}

/// Builds the calibration set of an already-read dataset.
/// @throws llmc::config_error / llmc::io_error, ids in the header comment.
[[nodiscard]] inline calibration_set build_calibration_set(const raw_dataset& ds, const tokenizer& tok,
                                                           const tokenizer_info& info, const calibration_options& o) {
  const std::string file = ds.path.string();
  if (o.batch_size == 0) LLMC_THROW(config_error, "llmc.data.111", file + ": batch_size must be at least 1");
  calibration_set set;
  set.max_seq_length = detail::resolve_max_seq_length(o, info, file);
  const auto max_len = static_cast<std::size_t>(set.max_seq_length);

  std::size_t truncated = 0;
  auto pool = tokenize_samples(ds, tok, info, o, max_len, truncated);
  set.truncated_samples = truncated;
  if (truncated > 0) {
    detail::warn(o, "llmc.data.203",
                 std::to_string(truncated) + " of " + std::to_string(ds.samples.size()) + " samples of " + file +
                     " were longer than max_seq_length " + std::to_string(max_len) + " and were truncated");
  }
  const bool chunked = ds.format == dataset_format::text_document || o.concatenate;
  if (o.concatenate && ds.format != dataset_format::text_document) {
    std::size_t total = 0;
    for (const auto& s : pool) total += s.size();
    pool = concatenate_chunks(pool, max_len);
    if (pool.empty()) {
      LLMC_THROW(config_error, "llmc.data.106",
                 file + ": concatenation found " + std::to_string(total) + " tokens, fewer than one chunk of " +
                     std::to_string(max_len) + "; lower max_seq_length or turn concatenation off");
    }
  }
  set.available_samples = pool.size();

  std::vector<std::size_t> lengths(pool.size());
  for (std::size_t i = 0; i < pool.size(); ++i) lengths[i] = pool[i].size();
  if (o.num_calibration_samples > pool.size()) {
    detail::warn(o, "llmc.data.201",
                 "requested " + std::to_string(o.num_calibration_samples) + " calibration samples but " + file +
                     " gives only " + std::to_string(pool.size()) + "; using " + std::to_string(pool.size()));
  }
  set.sample_indices = select_samples(lengths, o.num_calibration_samples, o.order, o.seed);
  if (o.order == sample_order::shuffled && o.batch_size > 1 && !chunked) {
    detail::warn(o, "llmc.data.205",
                 "shuffled samples batched " + std::to_string(o.batch_size) +
                     " at a time have mixed lengths (padding is masked but costs compute; truncate_to_shortest drops "
                     "tokens); consider sample_order::longest_first or batch_size 1");
  }
  for (const auto i : set.sample_indices) set.source_lines.push_back(chunked ? 0 : ds.samples[i].line);

  std::optional<token_id> pad;
  bool needs_pad = false;
  if (o.padding != padding_mode::truncate_to_shortest) {
    for (std::size_t b = 0; b < set.sample_indices.size() && !needs_pad; b += o.batch_size) {
      const std::size_t rows = std::min(o.batch_size, set.sample_indices.size() - b);
      std::size_t longest = o.padding == padding_mode::max_length ? max_len : 0;
      for (std::size_t r = 0; r < rows; ++r) longest = std::max(longest, lengths[set.sample_indices[b + r]]);
      for (std::size_t r = 0; r < rows; ++r) needs_pad = needs_pad || lengths[set.sample_indices[b + r]] < longest;
    }
  }
  if (needs_pad) pad = resolve_pad_token(tok, info);
  set.pad_token_id = pad;
  set.batches = make_batches(pool, set.sample_indices, o.batch_size, o.padding, max_len, pad, file);
  for (const auto& b : set.batches) {
    set.real_tokens += b.real_tokens();
    set.padded_tokens += b.rows * b.seq_len - b.real_tokens();
  }
  return set;
}

/// Reads `src` and builds its calibration set.
[[nodiscard]] inline calibration_set build_calibration_set(const dataset_source& src, const tokenizer& tok,
                                                           const tokenizer_info& info, const calibration_options& o) {
  return build_calibration_set(load_raw_dataset(src), tok, info, o);
}

/// Reads `src` and builds its calibration set with the tokenizer of `tokenizer_dir` (tokenizer.json
/// and tokenizer_config.json, as in a model directory).
[[nodiscard]] inline calibration_set build_calibration_set(const dataset_source& src,
                                                           const std::filesystem::path& tokenizer_dir,
                                                           const calibration_options& o) {
  const auto tok = tokenizer::from_directory(tokenizer_dir);
  return build_calibration_set(load_raw_dataset(src), tok, tokenizer_info::from_directory(tokenizer_dir), o);
}

}  // namespace llmc
