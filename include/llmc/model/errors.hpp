// llmc/model/errors.hpp — the stable error ids of the model layer (forward pass and evaluation).
//
// Every recoverable failure of include/llmc/model is an llmc::error subclass whose id() is one of
// the strings below; ids never change meaning. Messages name the model folder, the tensor, the
// layer or the argument, and say what to do. Unsupported architectures themselves are rejected
// earlier, by config.json parsing (llmc.io.142, io/model_config.hpp).
#pragma once

namespace llmc::model_errc {

// clang-format off
// | id              | class        | meaning                                                          |
// |-----------------|--------------|------------------------------------------------------------------|
// | llmc.model.100  | config_error | architecture / model_type this forward pass does not implement   |
// | llmc.model.101  | config_error | hidden_act other than silu (SwiGLU with SiLU is all we run)      |
// | llmc.model.102  | config_error | rope_scaling type not implemented, or llama3 parameters missing  |
// | llmc.model.103  | config_error | config values the forward cannot use (layer_types, windows)      |
// | llmc.model.110  | io_error     | a tensor the architecture needs is missing from the checkpoint   |
// | llmc.model.111  | shape_error  | a tensor's shape differs from what config.json implies           |
// | llmc.model.112  | io_error     | a weight is stored in a non-floating dtype (int, bool, packed)   |
// | llmc.model.120  | shape_error  | hidden states are not [batch * seq, hidden_size]                 |
// | llmc.model.121  | shape_error  | attention mask / position ids do not have batch * seq entries    |
// | llmc.model.122  | shape_error  | a token id is outside [0, vocab_size)                            |
// | llmc.model.123  | shape_error  | KV cache made for another batch / layer, or full                 |
// | llmc.model.124  | shape_error  | layer index out of range                                         |
// | llmc.model.125  | shape_error  | a swapped-in weight no longer has its Linear's shape             |
// | llmc.model.130  | config_error | evaluation arguments unusable (window < 2, too few tokens, ...)  |
// | llmc.model.131  | config_error | the two models of a KL comparison differ in vocabulary           |
// | llmc.model.140  | config_error | fake quantization asked for static activations (need calibration)|
// clang-format on

inline constexpr const char* unsupported_architecture = "llmc.model.100";
inline constexpr const char* unsupported_activation = "llmc.model.101";
inline constexpr const char* unsupported_rope = "llmc.model.102";
inline constexpr const char* unsupported_config = "llmc.model.103";
inline constexpr const char* missing_tensor = "llmc.model.110";
inline constexpr const char* tensor_shape = "llmc.model.111";
inline constexpr const char* tensor_dtype = "llmc.model.112";
inline constexpr const char* hidden_shape = "llmc.model.120";
inline constexpr const char* mask_shape = "llmc.model.121";
inline constexpr const char* token_range = "llmc.model.122";
inline constexpr const char* kv_cache = "llmc.model.123";
inline constexpr const char* layer_index = "llmc.model.124";
inline constexpr const char* weight_swap = "llmc.model.125";
inline constexpr const char* eval_args = "llmc.model.130";
inline constexpr const char* vocab_mismatch = "llmc.model.131";
inline constexpr const char* static_activation = "llmc.model.140";

}  // namespace llmc::model_errc
