// llmc/text/tokenizer.hpp — Hugging Face tokenizer.json (BPE) for the calibration pipeline.
//
// Loads a tokenizer.json (and, next to it, tokenizer_config.json) and encodes / decodes as the
// Hugging Face `tokenizers` library does (tokenizers/src/tokenizer/mod.rs): split the input on
// non-normalized added tokens, normalize each remaining piece, split on normalized added tokens,
// pre-tokenize, run the BPE model, then add the post-processor's special tokens. Both BPE styles
// of the Llama family are covered: SentencePiece-like (Prepend/Replace or Metaspace, byte
// fallback: Llama 2, TinyLlama, Mistral) and byte-level (NFC, Split regex, ByteLevel: Llama 3,
// Qwen2/3). Anything else in the file (WordPiece/Unigram models, Lowercase, BERT pre-tokenizer,
// ...) is rejected with llmc::config_error naming the file and the feature.
// Policies: input that is not valid UTF-8 is repaired first (llmc::utf8_sanitize: one U+FFFD per
// maximal ill-formed subpart, as Python's bytes.decode("utf-8", "replace")); decode skips ids
// that are in neither vocabulary, as tokenizers does; truncation and padding are ignored (as
// transformers resets them per call). Checked against tokenizers 0.23 by tests/text (vectors from
// tests/text/make_tokenizer_vectors.py).
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmc/core/error.hpp"
#include "llmc/text/tokenizer_bpe.hpp"
#include "llmc/text/tokenizer_pipeline.hpp"
#include "llmc/text/unicode.hpp"
#include "llmc/text/unicode_regex.hpp"

namespace llmc {

/// How a tokenizer is loaded.
struct tokenizer_options {
  /// Honour tokenizer_config.json: when it sets add_bos_token or add_eos_token, the special tokens
  /// added by encode() become [bos_token if add_bos_token] text [eos_token if add_eos_token], as
  /// transformers' LlamaTokenizerFast.update_post_processor does; its split_special_tokens becomes
  /// the default of encode_options::split_special_tokens. Off: tokenizer.json alone decides.
  bool use_tokenizer_config = true;
};

/// Per-call encoding switches.
struct encode_options {
  /// Add the post-processor's special tokens (BOS/EOS).
  bool add_special_tokens = true;
  /// Treat special-token strings in the text as plain text (tokenizers' encode_special_tokens).
  bool split_special_tokens = false;
};

/// A loaded tokenizer. Immutable after loading; encode/decode may run concurrently.
class tokenizer {
 public:
  /// Loads `dir`/tokenizer.json and, when present, `dir`/tokenizer_config.json.
  /// @throws llmc::io_error (llmc.text.101-103) when a file is missing or malformed,
  ///         llmc::config_error (llmc.text.2xx) when it uses an unsupported feature.
  [[nodiscard]] static tokenizer from_directory(const std::filesystem::path& dir, tokenizer_options options = {}) {
    return from_file(dir / "tokenizer.json", options);
  }

  /// Loads a tokenizer.json file and the tokenizer_config.json beside it, when present.
  /// @throws as from_directory.
  [[nodiscard]] static tokenizer from_file(const std::filesystem::path& tokenizer_json, tokenizer_options options = {}) {
    const std::string json = read_file(tokenizer_json);
    const auto config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
    std::string config;
    if (options.use_tokenizer_config && std::filesystem::exists(config_path)) config = read_file(config_path);
    return from_json(json, config, tokenizer_json.string(), options);
  }

  /// Builds a tokenizer from the text of tokenizer.json and (possibly empty) tokenizer_config.json.
  /// @param origin names the source in error messages.
  /// @throws as from_directory.
  [[nodiscard]] static tokenizer from_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json = {},
                                           const std::string& origin = "<tokenizer.json>",
                                           tokenizer_options options = {}) {
    const nlohmann::json j = parse_json(tokenizer_json, origin);
    tokenizer t(j, origin);
    if (options.use_tokenizer_config && !tokenizer_config_json.empty()) {
      const std::string config_origin = origin_sibling(origin, "tokenizer_config.json");
      t.apply_config(parse_json(tokenizer_config_json, config_origin), config_origin);
    }
    return t;
  }

  /// Encodes `text` to ids, adding the special tokens of the post-processor.
  [[nodiscard]] std::vector<token_id> encode(std::string_view text, bool add_special_tokens = true) const {
    return encode(text, encode_options{add_special_tokens, split_special_tokens_default_});
  }

  /// Encodes `text` to ids.
  /// @note Text that is not valid UTF-8 is encoded as llmc::utf8_sanitize(text): the Python
  ///       library only accepts str, and a lossy decode is what reading such a file as text gives.
  [[nodiscard]] std::vector<token_id> encode(std::string_view text, const encode_options& options) const {
    // The stages follow TokenizerImpl::encode_single_sequence and
    // AddedVocabulary::extract_and_normalize: (1) added tokens with normalized=false are found in
    // the raw text, (2) every other segment is normalized on its own (so Prepend("▁") applies once
    // per segment), (3) added tokens with normalized=true are found in the normalized segment,
    // (4) the rest is pre-tokenized into words, (5) each word goes through BPE.
    std::string repaired;
    if (!utf8_is_valid(text)) {
      repaired = utf8_sanitize(text);
      text = repaired;
    }
    std::vector<token_id> ids;
    ids.reserve(text.size() / 3 + 4);
    std::vector<detail::added_segment> outer, inner;
    std::vector<text_piece> pieces;
    detail::split_on_added(text, raw_matcher_, added_, options.split_special_tokens, outer);
    for (const auto& seg : outer) {
      if (seg.token_index) {
        ids.push_back(added_[*seg.token_index].id);
        continue;
      }
      if (seg.end <= seg.start) continue;
      std::string normalized(text.substr(seg.start, seg.end - seg.start));
      // Only the segment at offset 0 has bytes aligned to original offset 0 (its first character).
      std::size_t zero_prefix = seg.start == 0 ? utf8_lead_length(static_cast<unsigned char>(normalized[0])) : 0;
      apply_normalizers(normalizers_, normalized, zero_prefix);
      detail::split_on_added(normalized, normalized_matcher_, added_, options.split_special_tokens, inner);
      for (const auto& sub : inner) {
        if (sub.token_index) {
          ids.push_back(added_[*sub.token_index].id);
          continue;
        }
        if (sub.end <= sub.start) continue;
        pieces.clear();
        const bool at_start = sub.start < zero_prefix;
        pieces.push_back({normalized.substr(sub.start, sub.end - sub.start), at_start,
                          at_start ? std::min(zero_prefix - sub.start, sub.end - sub.start) : 0});
        apply_pre_tokenizers(pre_tokenizers_, pieces);
        for (const auto& p : pieces) model_.tokenize(p.text, ids);
      }
    }
    // (6) the post-processor's template wraps the ids (TemplateProcessing "single").
    if (options.add_special_tokens && !template_.empty()) {
      std::vector<token_id> out;
      out.reserve(ids.size() + 4);
      for (const auto& item : template_) {
        if (item.sequence) {
          out.insert(out.end(), ids.begin(), ids.end());
        } else {
          out.insert(out.end(), item.ids.begin(), item.ids.end());
        }
      }
      ids = std::move(out);
    }
    return ids;
  }

  /// Decodes ids to text for display. Ids in neither vocabulary are skipped (as tokenizers does).
  /// Added tokens decode to their normalized spelling when they are normalized (as tokenizers'
  /// simple_id_to_token), and skip_special_tokens drops tokens whose string is a special token's.
  /// Without a decoder the token strings are joined with spaces, as tokenizers does.
  [[nodiscard]] std::string decode(std::span<const token_id> ids, bool skip_special_tokens = false) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const token_id id : ids) {
      const std::string* s = nullptr;
      if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) {
        s = &it->second;
      } else {
        s = model_.id_to_token(id);
      }
      if (s == nullptr) continue;
      if (skip_special_tokens && special_strings_.contains(*s)) continue;
      tokens.push_back(*s);
    }
    if (!has_decoder_) {
      std::string out;
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0) out += ' ';
        out += tokens[i];
      }
      return out;
    }
    return apply_decoders(decoders_, std::move(tokens));
  }
  /// Convenience overload for a braced list or a vector.
  [[nodiscard]] std::string decode(const std::vector<token_id>& ids, bool skip_special_tokens = false) const {
    return decode(std::span<const token_id>(ids), skip_special_tokens);
  }

  /// Number of distinct tokens: the model's vocabulary plus added tokens not in it.
  [[nodiscard]] std::size_t vocab_size() const noexcept { return vocab_size_; }
  /// Id of a token string (added tokens first, then the model vocabulary).
  [[nodiscard]] std::optional<token_id> token_to_id(std::string_view token) const {
    for (const auto& a : added_)
      if (a.content == token) return a.id;
    return model_.token_to_id(token);
  }
  /// Token string of an id, or nullopt when unknown.
  [[nodiscard]] std::optional<std::string> id_to_token(token_id id) const {
    if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) return it->second;
    if (const std::string* s = model_.id_to_token(id)) return *s;
    return std::nullopt;
  }
  /// True for ids of added tokens marked special (skipped by decode(..., true)).
  [[nodiscard]] bool is_special(token_id id) const {
    const auto it = added_by_id_.find(id);
    return it != added_by_id_.end() && special_strings_.contains(it->second);
  }
  /// Beginning-of-sequence id: tokenizer_config.json's bos_token, else the special token that
  /// starts the post-processor template; nullopt when neither exists.
  [[nodiscard]] std::optional<token_id> bos_token_id() const noexcept { return bos_id_; }
  /// End-of-sequence id: tokenizer_config.json's eos_token, else the special token that ends the
  /// post-processor template; nullopt when neither exists.
  [[nodiscard]] std::optional<token_id> eos_token_id() const noexcept { return eos_id_; }
  /// The ids encode() puts before and after the text when add_special_tokens is true.
  [[nodiscard]] std::pair<std::vector<token_id>, std::vector<token_id>> special_affixes() const {
    std::pair<std::vector<token_id>, std::vector<token_id>> r;
    bool after = false;
    for (const auto& item : template_) {
      if (item.sequence) {
        after = true;
      } else {
        auto& dst = after ? r.second : r.first;
        dst.insert(dst.end(), item.ids.begin(), item.ids.end());
      }
    }
    return r;
  }
  /// The added tokens, in file order.
  [[nodiscard]] const std::vector<added_token>& added_tokens() const noexcept { return added_; }
  /// The BPE model.
  [[nodiscard]] const bpe_model& model() const noexcept { return model_; }

 private:
  /// One element of the single-sequence template: the encoded text ($A) or special-token ids.
  struct template_item {
    bool sequence = false;       // the encoded text ($A)
    std::vector<token_id> ids;   // special-token ids otherwise
  };

  // ---- JSON access ---------------------------------------------------------------------------
  // tokenizer.json is written by serde; optional fields may be absent or null, and the
  // defaults below are those of the Rust deserializers (cited per component).

  // ---- file helpers --------------------------------------------------------------------------
  static std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      LLMC_THROW(llmc::io_error, "llmc.text.101",
                 "cannot open tokenizer file '" + path.string() + "'; check the path (a model directory needs tokenizer.json)");
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static nlohmann::json parse_json(std::string_view text, const std::string& origin) {
    try {
      return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
      LLMC_THROW(llmc::io_error, "llmc.text.102", origin + ": not valid JSON (" + e.what() + ")");
    }
  }
  static std::string origin_sibling(const std::string& origin, const std::string& name) {
    const std::filesystem::path p(origin);
    return p.has_parent_path() ? (p.parent_path() / name).string() : name;
  }
  [[noreturn]] static void malformed(const std::string& origin, const std::string& what) {
    LLMC_THROW(llmc::io_error, "llmc.text.103", origin + ": malformed tokenizer file: " + what);
  }
  static const nlohmann::json& member(const nlohmann::json& j, const char* key, const std::string& origin,
                                      const std::string& where) {
    if (!j.is_object() || !j.contains(key)) malformed(origin, where + " has no '" + key + "'");
    return j.at(key);
  }
  static std::string get_string(const nlohmann::json& j, const char* key, const std::string& origin,
                                const std::string& where) {
    const auto& v = member(j, key, origin, where);
    if (!v.is_string()) malformed(origin, where + "." + key + " is not a string");
    return v.get<std::string>();
  }
  static bool get_bool(const nlohmann::json& j, const char* key, bool fallback) {
    if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return fallback;
    return j.at(key).is_boolean() ? j.at(key).get<bool>() : fallback;
  }
  static std::optional<std::string> get_opt_string(const nlohmann::json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || !j.at(key).is_string()) return std::nullopt;
    return j.at(key).get<std::string>();
  }
  static char32_t single_char(const std::string& s, const std::string& origin, const std::string& where) {
    if (s.empty() || !utf8_is_valid(s) || utf8_length(s) != 1) malformed(origin, where + " must be one character");
    std::size_t len = 0;
    return utf8_decode_at(s, 0, len);
  }
  static text_pattern parse_pattern(const nlohmann::json& j, const std::string& origin, const std::string& where) {
    if (!j.is_object()) malformed(origin, where + ".pattern is not an object");
    if (j.contains("String") && j.at("String").is_string()) return text_pattern{j.at("String").get<std::string>(), nullptr};
    if (j.contains("Regex") && j.at("Regex").is_string()) {
      try {
        return text_pattern{{}, std::make_shared<const unicode_regex>(j.at("Regex").get<std::string>())};
      } catch (const llmc::config_error& e) {
        LLMC_THROW(llmc::config_error, "llmc.text.206", origin + ": " + where + ": " + e.what());
      }
    }
    malformed(origin, where + ".pattern must be {\"String\": ...} or {\"Regex\": ...}");
  }
  static std::string type_of(const nlohmann::json& j, const std::string& origin, const std::string& where) {
    return get_string(j, "type", origin, where);
  }

  // ---- construction from tokenizer.json ---------------------------------------------------------
  // Order matters: added tokens are registered after the normalizer exists, because a
  // normalized added token is matched in its normalized spelling (added_vocabulary.rs).
  tokenizer(const nlohmann::json& j, const std::string& origin) : model_(parse_model(j, origin)) {
    if (!j.is_object()) malformed(origin, "the top level is not an object");
    if (j.contains("normalizer") && !j.at("normalizer").is_null()) parse_normalizer(j.at("normalizer"), origin);
    if (j.contains("pre_tokenizer") && !j.at("pre_tokenizer").is_null())
      parse_pre_tokenizer(j.at("pre_tokenizer"), origin);
    if (j.contains("decoder") && !j.at("decoder").is_null()) {
      has_decoder_ = true;
      parse_decoder(j.at("decoder"), origin);
    }
    vocab_size_ = model_.vocab_size();
    if (j.contains("added_tokens")) parse_added_tokens(j.at("added_tokens"), origin);
    if (j.contains("post_processor") && !j.at("post_processor").is_null())
      parse_post_processor(j.at("post_processor"), origin, template_);
    derive_bos_eos_from_template();
  }

  /// The "model" object (models/bpe/serialization.rs): vocab, merges in either the legacy
  /// "a b" or the [a, b] form, and the BPE options. dropout must be null or 0: calibration
  /// needs deterministic ids.
  static bpe_model parse_model(const nlohmann::json& j, const std::string& origin) {
    const auto& m = member(j, "model", origin, "tokenizer.json");
    // Files written by tokenizers always carry "type"; older BPE files may omit it.
    const std::string type = m.contains("type") ? type_of(m, origin, "model") : std::string("BPE");
    if (type != "BPE") {
      LLMC_THROW(llmc::config_error, "llmc.text.201",
                 origin + ": model type '" + type + "' is not supported; llmc's tokenizer implements BPE only");
    }
    if (m.contains("dropout") && m.at("dropout").is_number() && m.at("dropout").get<double>() > 0.0) {
      LLMC_THROW(llmc::config_error, "llmc.text.208",
                 origin + ": BPE dropout " + m.at("dropout").dump() +
                     " makes tokenization random; set \"dropout\": null for calibration");
    }
    bpe_options opt;
    opt.unk_token = get_opt_string(m, "unk_token");
    opt.continuing_subword_prefix = get_opt_string(m, "continuing_subword_prefix");
    opt.end_of_word_suffix = get_opt_string(m, "end_of_word_suffix");
    opt.fuse_unk = get_bool(m, "fuse_unk", false);
    opt.byte_fallback = get_bool(m, "byte_fallback", false);
    opt.ignore_merges = get_bool(m, "ignore_merges", false);

    const auto& v = member(m, "vocab", origin, "model");
    if (!v.is_object()) malformed(origin, "model.vocab is not an object");
    bpe_model::vocab_map vocab;
    vocab.reserve(v.size());
    for (const auto& [tok, id] : v.items()) {
      if (!id.is_number_integer()) malformed(origin, "model.vocab['" + tok + "'] is not an integer");
      vocab.emplace(tok, id.get<token_id>());
    }
    const auto& mj = member(m, "merges", origin, "model");
    if (!mj.is_array()) malformed(origin, "model.merges is not an array");
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(mj.size());
    for (const auto& e : mj) {
      if (e.is_string()) {  // legacy "left right"
        const std::string& line = e.get_ref<const std::string&>();
        if (line.rfind("#version", 0) == 0) continue;
        const std::size_t sp = line.find(' ');
        if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
          malformed(origin, "merge '" + line + "' is not two tokens separated by one space");
        merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      } else {
        malformed(origin, "a merge is neither \"a b\" nor [\"a\", \"b\"]: " + e.dump());
      }
    }
    return bpe_model(std::move(vocab), merges, std::move(opt), origin);
  }

  /// Appends the steps of a "normalizer" object; nested Sequences are flattened, which keeps the
  /// order of application.
  void parse_normalizer(const nlohmann::json& n, const std::string& origin) {
    const std::string type = type_of(n, origin, "normalizer");
    if (type == "Sequence") {
      const auto& list = member(n, "normalizers", origin, "normalizer Sequence");
      if (!list.is_array()) malformed(origin, "normalizer Sequence.normalizers is not an array");
      for (const auto& s : list) parse_normalizer(s, origin);
    } else if (type == "Prepend") {
      normalizers_.emplace_back(normalizer_prepend{get_string(n, "prepend", origin, "normalizer Prepend")});
    } else if (type == "Replace") {
      normalizers_.emplace_back(normalizer_replace{parse_pattern(member(n, "pattern", origin, "normalizer Replace"),
                                                                 origin, "normalizer Replace"),
                                                   get_string(n, "content", origin, "normalizer Replace")});
    } else if (type == "NFC") {
      normalizers_.emplace_back(normalizer_unicode{normalization_form::nfc});
    } else if (type == "NFD") {
      normalizers_.emplace_back(normalizer_unicode{normalization_form::nfd});
    } else if (type == "NFKC") {
      normalizers_.emplace_back(normalizer_unicode{normalization_form::nfkc});
    } else if (type == "NFKD") {
      normalizers_.emplace_back(normalizer_unicode{normalization_form::nfkd});
    } else if (type == "Strip") {
      normalizers_.emplace_back(normalizer_strip{get_bool(n, "strip_left", true), get_bool(n, "strip_right", true)});
    } else {
      LLMC_THROW(llmc::config_error, "llmc.text.202",
                 origin + ": normalizer '" + type +
                     "' is not supported (supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Strip)");
    }
  }

  /// Metaspace's prepend_scheme (default "always"); the legacy add_prefix_space=false means "never".
  static prepend_scheme parse_prepend_scheme(const nlohmann::json& p, const std::string& origin,
                                             const std::string& where) {
    std::string scheme = get_opt_string(p, "prepend_scheme").value_or("always");
    if (p.contains("add_prefix_space") && p.at("add_prefix_space").is_boolean() &&
        !p.at("add_prefix_space").get<bool>()) {
      scheme = "never";  // the legacy flag (metaspace.rs deserializer)
    }
    if (scheme == "always") return prepend_scheme::always;
    if (scheme == "first") return prepend_scheme::first;
    if (scheme == "never") return prepend_scheme::never;
    malformed(origin, where + ".prepend_scheme '" + scheme + "' is not always/first/never");
  }

  /// Appends the steps of a "pre_tokenizer" object. ByteLevel's use_regex defaults to true
  /// (byte_level.rs), Metaspace's split to true (metaspace.rs).
  void parse_pre_tokenizer(const nlohmann::json& p, const std::string& origin) {
    const std::string type = type_of(p, origin, "pre_tokenizer");
    if (type == "Sequence") {
      const auto& list = member(p, "pretokenizers", origin, "pre_tokenizer Sequence");
      if (!list.is_array()) malformed(origin, "pre_tokenizer Sequence.pretokenizers is not an array");
      for (const auto& s : list) parse_pre_tokenizer(s, origin);
    } else if (type == "Split") {
      pre_tokenizer_split s;
      s.pattern = parse_pattern(member(p, "pattern", origin, "pre_tokenizer Split"), origin, "pre_tokenizer Split");
      s.behavior = parse_behavior(get_string(p, "behavior", origin, "pre_tokenizer Split"), origin);
      s.invert = get_bool(p, "invert", false);
      pre_tokenizers_.emplace_back(std::move(s));
    } else if (type == "ByteLevel") {
      pre_tokenizers_.emplace_back(
          pre_tokenizer_byte_level{get_bool(p, "add_prefix_space", true), get_bool(p, "use_regex", true)});
    } else if (type == "Metaspace") {
      pre_tokenizer_metaspace m;
      m.replacement = single_char(get_string(p, "replacement", origin, "pre_tokenizer Metaspace"), origin,
                                  "pre_tokenizer Metaspace.replacement");
      m.scheme = parse_prepend_scheme(p, origin, "pre_tokenizer Metaspace");
      m.split = get_bool(p, "split", true);
      pre_tokenizers_.emplace_back(m);
    } else if (type == "Digits") {
      pre_tokenizers_.emplace_back(pre_tokenizer_digits{get_bool(p, "individual_digits", false)});
    } else if (type == "WhitespaceSplit") {
      pre_tokenizers_.emplace_back(pre_tokenizer_whitespace_split{});
    } else {
      LLMC_THROW(llmc::config_error, "llmc.text.203",
                 origin + ": pre_tokenizer '" + type +
                     "' is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits, WhitespaceSplit)");
    }
  }

  static split_behavior parse_behavior(const std::string& b, const std::string& origin) {
    if (b == "Removed") return split_behavior::removed;
    if (b == "Isolated") return split_behavior::isolated;
    if (b == "MergedWithPrevious") return split_behavior::merged_with_previous;
    if (b == "MergedWithNext") return split_behavior::merged_with_next;
    if (b == "Contiguous") return split_behavior::contiguous;
    malformed(origin, "unknown Split behavior '" + b + "'");
  }

  /// Appends the steps of a "decoder" object; tokenizers runs a Sequence's decode_chain in order.
  void parse_decoder(const nlohmann::json& d, const std::string& origin) {
    const std::string type = type_of(d, origin, "decoder");
    if (type == "Sequence") {
      const auto& list = member(d, "decoders", origin, "decoder Sequence");
      if (!list.is_array()) malformed(origin, "decoder Sequence.decoders is not an array");
      for (const auto& s : list) parse_decoder(s, origin);
    } else if (type == "Replace") {
      decoders_.emplace_back(decoder_replace{
          parse_pattern(member(d, "pattern", origin, "decoder Replace"), origin, "decoder Replace"),
          get_string(d, "content", origin, "decoder Replace")});
    } else if (type == "ByteFallback") {
      decoders_.emplace_back(decoder_byte_fallback{});
    } else if (type == "Fuse") {
      decoders_.emplace_back(decoder_fuse{});
    } else if (type == "Strip") {
      decoder_strip s;
      s.content = single_char(get_string(d, "content", origin, "decoder Strip"), origin, "decoder Strip.content");
      const auto count = [&](const char* key) -> std::size_t {
        const auto& v = member(d, key, origin, "decoder Strip");
        if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<long long>() >= 0))
          malformed(origin, std::string("decoder Strip.") + key + " is not a count");
        return v.get<std::size_t>();
      };
      s.start = count("start");
      s.stop = count("stop");
      decoders_.emplace_back(s);
    } else if (type == "ByteLevel") {
      decoders_.emplace_back(decoder_byte_level{});
    } else if (type == "Metaspace") {
      decoder_metaspace m;
      m.replacement =
          single_char(get_string(d, "replacement", origin, "decoder Metaspace"), origin, "decoder Metaspace.replacement");
      m.scheme = parse_prepend_scheme(d, origin, "decoder Metaspace");
      decoders_.emplace_back(m);
    } else if (type == "BPEDecoder") {
      decoders_.emplace_back(decoder_bpe{get_opt_string(d, "suffix").value_or("</w>")});
    } else {
      LLMC_THROW(llmc::config_error, "llmc.text.204",
                 origin + ": decoder '" + type +
                     "' is not supported (supported: Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, "
                     "Metaspace, BPEDecoder)");
    }
  }

  /// Registers "added_tokens". An added token whose content is already in the model vocabulary
  /// keeps the model's id (tokenizers warns and does the same); `special` defaults to false and
  /// `normalized` to !special (AddedToken::from).
  void parse_added_tokens(const nlohmann::json& list, const std::string& origin) {
    if (!list.is_array()) malformed(origin, "added_tokens is not an array");
    for (const auto& a : list) {
      added_token t;
      t.content = get_string(a, "content", origin, "an added token");
      if (t.content.empty()) continue;  // tokenizers ignores empty added tokens
      const auto& id = member(a, "id", origin, "added token '" + t.content + "'");
      if (!id.is_number_integer() || id.get<long long>() < 0)
        malformed(origin, "added token '" + t.content + "' has no valid id");
      t.special = get_bool(a, "special", false);
      t.normalized = get_bool(a, "normalized", !t.special);
      t.lstrip = get_bool(a, "lstrip", false);
      t.rstrip = get_bool(a, "rstrip", false);
      t.single_word = get_bool(a, "single_word", false);
      // tokenizers keeps the id the content already has (added vocabulary, then model vocabulary).
      bool seen = false;
      for (auto& prev : added_) {
        if (prev.content == t.content) {  // a repeated entry replaces the earlier one's flags
          t.id = prev.id;
          prev = t;
          seen = true;
        }
      }
      if (seen) continue;
      t.id = model_.token_to_id(t.content).value_or(id.get<token_id>());
      added_.push_back(t);
    }
    for (std::size_t k = 0; k < added_.size(); ++k) {
      const added_token& t = added_[k];
      // A normalized token is matched (and decoded) in its normalized spelling.
      std::string shown = t.content;
      if (t.normalized) {
        apply_normalizers(normalizers_, shown);
        normalized_matcher_.add(shown, k);
      } else {
        raw_matcher_.add(t.content, k);
      }
      added_by_id_[t.id] = shown;
      if (t.special) special_strings_.insert(t.content);
      if (!model_.id_to_token(t.id)) ++vocab_size_;
    }
  }

  std::vector<token_id> special_ids(const nlohmann::json& specials, const std::string& key,
                                    const std::string& origin) const {
    if (!specials.is_object() || !specials.contains(key))
      malformed(origin, "TemplateProcessing refers to special token '" + key + "' missing from special_tokens");
    const auto& ids = member(specials.at(key), "ids", origin, "special_tokens['" + key + "']");
    if (!ids.is_array()) malformed(origin, "special_tokens['" + key + "'].ids is not an array");
    std::vector<token_id> out;
    for (const auto& i : ids) {
      if (!i.is_number_integer()) malformed(origin, "special_tokens['" + key + "'].ids holds a non-integer");
      out.push_back(i.get<token_id>());
    }
    return out;
  }

  /// Folds a "post_processor" into the single-sequence template. Only the ids matter here:
  /// ByteLevel adjusts offsets only; Bert/Roberta add cls ... sep; TemplateProcessing follows its
  /// "single" list; a Sequence applies its processors in order, each wrapping the previous result.
  void parse_post_processor(const nlohmann::json& p, const std::string& origin, std::vector<template_item>& tmpl) const {
    const std::string type = type_of(p, origin, "post_processor");
    const auto wrap = [&](std::vector<template_item> inner) {
      // Applying a processor to the current template replaces its $A by the current items.
      if (tmpl.empty()) {
        tmpl = std::move(inner);
        return;
      }
      std::vector<template_item> merged;
      for (auto& item : inner) {
        if (item.sequence) {
          merged.insert(merged.end(), tmpl.begin(), tmpl.end());
        } else {
          merged.push_back(std::move(item));
        }
      }
      tmpl = std::move(merged);
    };
    if (type == "Sequence") {
      const auto& list = member(p, "processors", origin, "post_processor Sequence");
      if (!list.is_array()) malformed(origin, "post_processor Sequence.processors is not an array");
      for (const auto& s : list) parse_post_processor(s, origin, tmpl);
    } else if (type == "ByteLevel") {
      // offsets only; adds no tokens
    } else if (type == "TemplateProcessing") {
      const auto& single = member(p, "single", origin, "post_processor TemplateProcessing");
      if (!single.is_array()) malformed(origin, "TemplateProcessing.single is not an array");
      const nlohmann::json specials = p.contains("special_tokens") ? p.at("special_tokens") : nlohmann::json::object();
      std::vector<template_item> items;
      bool has_sequence = false;
      for (const auto& piece : single) {
        if (piece.contains("Sequence")) {
          items.push_back({true, {}});
          has_sequence = true;
        } else if (piece.contains("SpecialToken")) {
          items.push_back({false, special_ids(specials, get_string(piece.at("SpecialToken"), "id", origin,
                                                                   "TemplateProcessing SpecialToken"),
                                              origin)});
        } else {
          malformed(origin, "TemplateProcessing.single item " + piece.dump() + " is neither Sequence nor SpecialToken");
        }
      }
      if (!has_sequence) malformed(origin, "TemplateProcessing.single has no Sequence item");
      wrap(std::move(items));
    } else if (type == "BertProcessing" || type == "RobertaProcessing") {
      const auto id_of = [&](const char* key) {
        const auto& v = member(p, key, origin, "post_processor " + type);
        if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer())
          malformed(origin, type + "." + key + " is not [token, id]");
        return v[1].get<token_id>();
      };
      wrap({{false, {id_of("cls")}}, {true, {}}, {false, {id_of("sep")}}});
    } else {
      LLMC_THROW(llmc::config_error, "llmc.text.205",
                 origin + ": post_processor '" + type +
                     "' is not supported (supported: TemplateProcessing, ByteLevel, BertProcessing, "
                     "RobertaProcessing, Sequence)");
    }
  }

  /// BOS/EOS ids when tokenizer_config.json does not name them: a lone special token at either
  /// end of the template.
  void derive_bos_eos_from_template() {
    bos_id_.reset();
    eos_id_.reset();
    if (template_.empty()) return;
    if (!template_.front().sequence && template_.front().ids.size() == 1) bos_id_ = template_.front().ids[0];
    if (!template_.back().sequence && template_.back().ids.size() == 1) eos_id_ = template_.back().ids[0];
  }

  // ---- tokenizer_config.json -------------------------------------------------------------------
  /// The id of tokenizer_config.json's `key` (a string, or an AddedToken object with "content");
  /// nullopt when absent or null.
  std::optional<token_id> config_token(const nlohmann::json& c, const char* key, const std::string& origin) const {
    if (!c.contains(key) || c.at(key).is_null()) return std::nullopt;
    const auto& v = c.at(key);
    std::string content;
    if (v.is_string()) {
      content = v.get<std::string>();
    } else if (v.is_object() && v.contains("content") && v.at("content").is_string()) {
      content = v.at("content").get<std::string>();  // an AddedToken object
    } else {
      malformed(origin, std::string(key) + " is neither a string nor an AddedToken object");
    }
    const auto id = token_to_id(content);
    if (!id) {
      LLMC_THROW(llmc::config_error, "llmc.text.209",
                 origin + ": " + key + " '" + content + "' is not in the tokenizer's vocabulary");
    }
    return id;
  }

  /// Applies tokenizer_config.json. transformers' LlamaTokenizerFast rebuilds the post-processor
  /// from add_bos_token / add_eos_token (update_post_processor), so when either flag is present the
  /// template becomes [bos] $A [eos]; without them tokenizer.json's post-processor stays.
  void apply_config(const nlohmann::json& c, const std::string& origin) {
    if (!c.is_object()) malformed(origin, "the top level is not an object");
    const auto bos = config_token(c, "bos_token", origin);
    const auto eos = config_token(c, "eos_token", origin);
    const bool has_add_bos = c.contains("add_bos_token") && c.at("add_bos_token").is_boolean();
    const bool has_add_eos = c.contains("add_eos_token") && c.at("add_eos_token").is_boolean();
    if (has_add_bos || has_add_eos) {
      const bool add_bos = has_add_bos && c.at("add_bos_token").get<bool>();
      const bool add_eos = has_add_eos && c.at("add_eos_token").get<bool>();
      if ((add_bos && !bos) || (add_eos && !eos)) {
        LLMC_THROW(llmc::config_error, "llmc.text.209",
                   origin + ": add_" + std::string(add_bos && !bos ? "bos" : "eos") + "_token is true but " +
                       (add_bos && !bos ? "bos" : "eos") + "_token is not set");
      }
      template_.clear();
      if (add_bos) template_.push_back({false, {*bos}});
      template_.push_back({true, {}});
      if (add_eos) template_.push_back({false, {*eos}});
    }
    derive_bos_eos_from_template();
    if (bos) bos_id_ = bos;
    if (eos) eos_id_ = eos;
    split_special_tokens_default_ = get_bool(c, "split_special_tokens", false);
  }

  bpe_model model_;
  std::vector<normalizer_step> normalizers_;
  std::vector<pre_tokenizer_step> pre_tokenizers_;
  std::vector<decoder_step> decoders_;
  bool has_decoder_ = false;
  std::vector<added_token> added_;
  added_token_matcher raw_matcher_;
  added_token_matcher normalized_matcher_;
  std::unordered_map<token_id, std::string> added_by_id_;
  std::unordered_set<std::string> special_strings_;
  std::vector<template_item> template_;
  std::optional<token_id> bos_id_;
  std::optional<token_id> eos_id_;
  std::size_t vocab_size_ = 0;
  bool split_special_tokens_default_ = false;
};

}  // namespace llmc
