// llmc/text/tokenizer_bpe.hpp — the BPE model of a Hugging Face tokenizer.json.
//
// Splits one pre-tokenized word into vocabulary ids exactly as tokenizers' BPE model does
// (tokenizers/src/models/bpe/model.rs `merge_word`, word.rs `merge_all`): start from one symbol
// per character (or its <0xXX> byte tokens under byte_fallback, or a possibly fused unk), then
// repeatedly apply the pair merge of lowest rank, leftmost first, until none applies.
// Invariants: merges are keyed by (left id, right id) -> (rank, merged id); rank is the position
// in tokenizer.json's merge list (a repeated pair keeps its last rank, as a hash map built by
// insertion does). Results are memoized per word (words up to 256 bytes, like tokenizers), under
// a mutex, so a const bpe_model may be used from several threads.
// Speed: SentencePiece-style files have no pre-tokenizer, so a whole text is one "word". When no
// merge can produce a token with "▁" after another character (checked on the merge list at load),
// no merge can cross the start of a "▁" run, so such words are cut there and the pieces are
// merged (and memoized) independently, which gives the same ids as merging the whole word.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/text/unicode.hpp"

namespace llmc {

/// A token id. tokenizers uses u32; int32 is what embedding lookups take, and ids stay < 2^31.
using token_id = std::int32_t;

/// The options of a BPE model, with tokenizer.json's field names.
struct bpe_options {
  std::optional<std::string> unk_token;                  ///< token emitted for unknown characters
  std::optional<std::string> continuing_subword_prefix;  ///< e.g. "##"; prepended to non-first characters
  std::optional<std::string> end_of_word_suffix;         ///< e.g. "</w>"; appended to the last character
  bool fuse_unk = false;       ///< consecutive unknown characters become one unk token
  bool byte_fallback = false;  ///< unknown characters become their <0xXX> byte tokens
  bool ignore_merges = false;  ///< a word that is itself in the vocabulary is emitted whole
};

namespace detail {
/// Open-addressing map from a (left id, right id) pair to its merge; faster than
/// std::unordered_map for the 10^5 lookups a long text needs.
class pair_merge_map {
 public:
  struct value {
    std::uint32_t rank;
    std::int32_t new_id;
  };
  void reserve(std::size_t n) {
    std::size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    keys_.assign(cap, empty_key);
    values_.assign(cap, value{});
    size_ = 0;
  }
  /// Inserts or overwrites.
  void insert_or_assign(std::uint64_t key, value v) {
    if (keys_.empty() || 2 * (size_ + 1) > keys_.size()) grow();
    std::size_t i = slot(key);
    while (keys_[i] != empty_key && keys_[i] != key) i = (i + 1) & (keys_.size() - 1);
    if (keys_[i] == empty_key) ++size_;
    keys_[i] = key;
    values_[i] = v;
  }
  [[nodiscard]] const value* find(std::uint64_t key) const noexcept {
    if (keys_.empty()) return nullptr;
    for (std::size_t i = slot(key);; i = (i + 1) & (keys_.size() - 1)) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == empty_key) return nullptr;
    }
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::uint64_t empty_key = ~std::uint64_t{0};  // ids are >= 0, so never a real pair
  [[nodiscard]] std::size_t slot(std::uint64_t key) const noexcept {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & (keys_.size() - 1);
  }
  void grow() {
    std::vector<std::uint64_t> keys = std::move(keys_);
    std::vector<value> values = std::move(values_);
    reserve(std::max<std::size_t>(16, keys.size()));
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i] != empty_key) insert_or_assign(keys[i], values[i]);
  }
  std::vector<std::uint64_t> keys_;
  std::vector<value> values_;
  std::size_t size_ = 0;
};

/// Transparent string hash so lookups by string_view allocate nothing.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
}  // namespace detail

/// Byte-pair-encoding model: vocabulary, ranked merges and the merge algorithm.
class bpe_model {
 public:
  using vocab_map = std::unordered_map<std::string, token_id, detail::string_hash, std::equal_to<>>;

  /// Builds the model.
  /// @param vocab  token string -> id (ids need not be dense, but must be >= 0)
  /// @param merges ordered (left, right) pairs; rank = index
  /// @param origin the file the data came from, for error messages
  /// @throws llmc::config_error llmc.text.210 when a merge names a token (or a merged token) that
  ///         is not in the vocabulary, llmc.text.211 when unk_token is not in the vocabulary.
  bpe_model(vocab_map vocab, const std::vector<std::pair<std::string, std::string>>& merges, bpe_options options,
            const std::string& origin = "<memory>")
      : vocab_(std::move(vocab)), options_(std::move(options)) {
    token_id max_id = -1;
    for (const auto& [tok, id] : vocab_) {
      if (id < 0) {
        LLMC_THROW(llmc::config_error, "llmc.text.212",
                   origin + ": vocabulary entry '" + tok + "' has a negative id " + std::to_string(id));
      }
      max_id = std::max(max_id, id);
    }
    id_to_token_.assign(static_cast<std::size_t>(max_id + 1), std::nullopt);
    for (const auto& [tok, id] : vocab_) id_to_token_[static_cast<std::size_t>(id)] = tok;

    const std::size_t prefix_len = options_.continuing_subword_prefix ? options_.continuing_subword_prefix->size() : 0;
    merges_.reserve(merges.size());
    // Cutting words before "▁" runs is exact only without whole-word rules (ignore_merges, a
    // prefix or suffix on the first/last character) and when "▁" is a symbol of its own.
    bool splittable = !options_.ignore_merges &&
                      (!options_.continuing_subword_prefix || options_.continuing_subword_prefix->empty()) &&
                      (!options_.end_of_word_suffix || options_.end_of_word_suffix->empty()) &&
                      vocab_.find(marker) != vocab_.end();
    std::string merged;
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      const auto ia = vocab_.find(std::string_view(a));
      const auto ib = vocab_.find(std::string_view(b));
      // The merged token drops the right side's continuation prefix (model.rs `build`).
      merged.assign(a);
      if (b.size() >= prefix_len) merged.append(b, prefix_len, std::string::npos);
      const auto im = vocab_.find(std::string_view(merged));
      if (ia == vocab_.end() || ib == vocab_.end() || im == vocab_.end()) {
        const std::string& missing = ia == vocab_.end() ? a : ib == vocab_.end() ? b : merged;
        LLMC_THROW(llmc::config_error, "llmc.text.210",
                   origin + ": merge #" + std::to_string(rank) + " ('" + a + "' '" + b + "') uses '" + missing +
                       "', which is not in the vocabulary; the tokenizer file is inconsistent");
      }
      merges_.insert_or_assign(pair_key(ia->second, ib->second),
                               merge_info{static_cast<std::uint32_t>(rank), im->second});
      if (splittable && merged_has_inner_marker(merged)) splittable = false;
    }
    if (splittable) split_marker_ = std::string(marker);
    if (options_.unk_token) {
      const auto it = vocab_.find(std::string_view(*options_.unk_token));
      if (it == vocab_.end()) {
        LLMC_THROW(llmc::config_error, "llmc.text.211",
                   origin + ": BPE unk_token '" + *options_.unk_token + "' is not in the vocabulary");
      }
      unk_id_ = it->second;
    }
    static constexpr char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      const std::string name = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
      const auto it = vocab_.find(std::string_view(name));
      byte_ids_[static_cast<std::size_t>(b)] = it == vocab_.end() ? -1 : it->second;
    }
  }

  // Copies and moves carry the model, not the memo (nor its mutex).
  bpe_model(const bpe_model& other)
      : vocab_(other.vocab_), id_to_token_(other.id_to_token_), merges_(other.merges_), options_(other.options_),
        unk_id_(other.unk_id_), byte_ids_(other.byte_ids_), split_marker_(other.split_marker_) {}
  bpe_model(bpe_model&& other) noexcept
      : vocab_(std::move(other.vocab_)), id_to_token_(std::move(other.id_to_token_)),
        merges_(std::move(other.merges_)), options_(std::move(other.options_)), unk_id_(other.unk_id_),
        byte_ids_(other.byte_ids_), split_marker_(std::move(other.split_marker_)) {}

  /// Appends the ids of `word` to `out`. An empty word gives no ids.
  /// @pre word is well-formed UTF-8.
  void tokenize(std::string_view word, std::vector<token_id>& out) const {
    if (word.empty()) return;
    if (options_.ignore_merges) {
      const auto it = vocab_.find(word);
      if (it != vocab_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    if (!split_marker_.empty() && word.size() > cache_max_word_bytes) {
      // Cut before each "▁" that follows another character (see the header comment).
      const std::string_view m = split_marker_;
      std::size_t start = 0;
      for (std::size_t p = word.find(m, 1); p != std::string_view::npos; p = word.find(m, p + m.size())) {
        if (p - start >= m.size() && word.substr(p - m.size(), m.size()) == m) continue;  // inside a run
        tokenize_piece(word.substr(start, p - start), out);
        start = p;
      }
      tokenize_piece(word.substr(start), out);
      return;
    }
    tokenize_piece(word, out);
  }

  /// True when long words are cut before "▁" runs (see the header comment).
  [[nodiscard]] bool splits_at_marker() const noexcept { return !split_marker_.empty(); }

 private:
  static constexpr std::string_view marker = "\xE2\x96\x81";  // U+2581, SentencePiece's word marker

  /// True when `token` has a "▁" right after a character other than "▁".
  static bool merged_has_inner_marker(std::string_view token) noexcept {
    for (std::size_t p = token.find(marker, 1); p != std::string_view::npos; p = token.find(marker, p + 1)) {
      if (p < marker.size() || token.substr(p - marker.size(), marker.size()) != marker) return true;
    }
    return false;
  }

  void tokenize_piece(std::string_view word, std::vector<token_id>& out) const {
    if (word.empty()) return;
    const bool cacheable = word.size() < cache_max_word_bytes;
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      const auto it = cache_.find(word);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    const std::size_t first = out.size();
    merge_word(word, out);
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      if (cache_.size() >= cache_capacity) cache_.clear();  // bounded memory; results never change
      cache_.emplace(std::string(word), std::vector<token_id>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
    }
  }

 public:
  /// Id of a vocabulary token.
  [[nodiscard]] std::optional<token_id> token_to_id(std::string_view token) const {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  /// Token string of an id, or nullptr when the id is not in the vocabulary.
  [[nodiscard]] const std::string* id_to_token(token_id id) const noexcept {
    if (id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size() || !id_to_token_[static_cast<std::size_t>(id)])
      return nullptr;
    return &*id_to_token_[static_cast<std::size_t>(id)];
  }
  /// Number of vocabulary entries.
  [[nodiscard]] std::size_t vocab_size() const noexcept { return vocab_.size(); }
  /// Number of distinct merge pairs.
  [[nodiscard]] std::size_t merge_count() const noexcept { return merges_.size(); }
  /// The options the model was built with.
  [[nodiscard]] const bpe_options& options() const noexcept { return options_; }
  /// Token string -> id, as read from the file.
  [[nodiscard]] const vocab_map& vocab() const noexcept { return vocab_; }

 private:
  using merge_info = detail::pair_merge_map::value;
  /// One symbol of the word being merged: a doubly linked list laid out in an array, so a
  /// merge is O(1) and positions (the tie-break of equal ranks) never move.
  struct symbol {
    token_id id;
    std::int64_t prev;
    std::int64_t next;
    std::size_t len;  // bytes of the word covered; 0 marks a symbol merged into its left neighbour
  };
  /// A merge waiting in the queue: the pair starting at `pos` merges into `new_id` at `rank`.
  struct candidate {
    std::uint32_t rank;
    std::size_t pos;
    token_id new_id;
    // std::priority_queue pops the largest: make lower rank, then lower position, the largest.
    bool operator<(const candidate& o) const noexcept { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  static constexpr std::size_t cache_max_word_bytes = 256;
  static constexpr std::size_t cache_capacity = 1u << 16;

  static constexpr std::uint64_t pair_key(token_id a, token_id b) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }
  [[nodiscard]] const merge_info* find_merge(token_id a, token_id b) const noexcept {
    return merges_.find(pair_key(a, b));
  }

  /// Appends the BPE ids of `w` (model.rs merge_word + word.rs merge_all, without dropout).
  void merge_word(std::string_view w, std::vector<token_id>& out) const {
    // 1. Initial symbols: one per character, spelled with the continuation prefix / end-of-word
    //    suffix when configured; an unknown character becomes its byte tokens (byte_fallback)
    //    or an unk (fused with a preceding unk under fuse_unk), or is dropped without unk_token.
    std::vector<symbol> symbols;
    symbols.reserve(w.size());
    const auto add = [&](token_id id, std::size_t len) {
      const auto n = static_cast<std::int64_t>(symbols.size());
      symbols.push_back(symbol{id, n - 1, n + 1, len});
    };
    // A pending unk: emitted before the next in-vocabulary character or at the end of the word.
    bool unk_pending = false;
    std::size_t unk_len = 0;
    std::string buffer;
    const bool has_prefix = options_.continuing_subword_prefix.has_value();
    const bool has_suffix = options_.end_of_word_suffix.has_value();
    for (std::size_t i = 0; i < w.size();) {
      const std::size_t len = utf8_lead_length(static_cast<unsigned char>(w[i]));
      std::string_view s = w.substr(i, len);
      const bool is_first = i == 0;
      const bool is_last = i + len >= w.size();
      if ((!is_first && has_prefix) || (is_last && has_suffix)) {
        buffer.clear();
        if (!is_first && has_prefix) buffer += *options_.continuing_subword_prefix;
        buffer += s;
        if (is_last && has_suffix) buffer += *options_.end_of_word_suffix;
        s = buffer;
      }
      i += len;
      if (const auto it = vocab_.find(s); it != vocab_.end()) {
        if (unk_pending) {
          add(*unk_id_, unk_len);
          unk_pending = false;
        }
        add(it->second, len);
        continue;
      }
      if (options_.byte_fallback) {
        bool all = true;
        for (const char c : s) all &= byte_ids_[static_cast<unsigned char>(c)] >= 0;
        if (all) {
          // As in model.rs, a pending unk is not flushed here; it is emitted before the next
          // known symbol (so it may land after these byte tokens) or at the end.
          for (const char c : s) add(byte_ids_[static_cast<unsigned char>(c)], 1);
          continue;
        }
      }
      if (unk_id_) {
        if (unk_pending && options_.fuse_unk) {
          unk_len += len;
        } else {
          if (unk_pending) add(*unk_id_, unk_len);
          unk_pending = true;
          unk_len = len;
        }
      }
    }
    if (unk_pending) add(*unk_id_, unk_len);
    if (symbols.empty()) return;
    symbols.back().next = -1;

    // 2. Merge: repeatedly take the candidate of lowest (rank, position). Entries go stale when a
    //    neighbour merged first; they are recognized, as in word.rs, by the current pair no longer
    //    producing the same id (not by comparing ranks, which word.rs does not do either).

    std::priority_queue<candidate> queue;
    for (std::size_t p = 0; p + 1 < symbols.size(); ++p) {
      if (const merge_info* m = find_merge(symbols[p].id, symbols[p + 1].id)) queue.push({m->rank, p, m->new_id});
    }
    while (!queue.empty()) {
      const candidate top = queue.top();
      queue.pop();
      symbol& cur = symbols[top.pos];
      if (cur.len == 0 || cur.next == -1) continue;
      const auto next_pos = static_cast<std::size_t>(cur.next);
      const symbol right = symbols[next_pos];
      // Skip stale entries: word.rs checks only that the pair still merges into the same id.
      const merge_info* now = find_merge(cur.id, right.id);
      if (now == nullptr || now->new_id != top.new_id) continue;
      cur.id = top.new_id;
      cur.len += right.len;
      cur.next = right.next;
      symbols[next_pos].len = 0;
      if (right.next >= 0 && static_cast<std::size_t>(right.next) < symbols.size())
        symbols[static_cast<std::size_t>(right.next)].prev = static_cast<std::int64_t>(top.pos);
      if (cur.prev >= 0) {
        const auto prev = static_cast<std::size_t>(cur.prev);
        if (const merge_info* m = find_merge(symbols[prev].id, cur.id)) queue.push({m->rank, prev, m->new_id});
      }
      if (cur.next >= 0 && static_cast<std::size_t>(cur.next) < symbols.size()) {
        if (const merge_info* m = find_merge(cur.id, symbols[static_cast<std::size_t>(cur.next)].id))
          queue.push({m->rank, top.pos, m->new_id});
      }
    }
    for (const symbol& s : symbols)
      if (s.len != 0) out.push_back(s.id);
  }

  vocab_map vocab_;
  std::vector<std::optional<std::string>> id_to_token_;
  detail::pair_merge_map merges_;
  bpe_options options_;
  std::optional<token_id> unk_id_;
  std::array<token_id, 256> byte_ids_{};
  std::string split_marker_;  // "▁" when long words may be cut before "▁" runs, else empty
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<token_id>, detail::string_hash, std::equal_to<>> cache_;
};

}  // namespace llmc
