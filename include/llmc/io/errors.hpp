// llmc/io/errors.hpp — the stable error ids of the io layer (safetensors, model folders, output folders).
//
// Every failure of the io layer is an llmc::io_error whose id() is one of the strings below; the
// ids never change meaning, so tools and tests may match on them. Messages always name the file
// (and the tensor or key when there is one) and say what to do. This header is the single table
// of ids; each throw site uses the named constant so the table and the code cannot drift apart.
#pragma once

namespace llmc::io_errc {

// clang-format off
// | id           | meaning                                                        | what to do                                      |
// |--------------|----------------------------------------------------------------|-------------------------------------------------|
// | llmc.io.101  | a file could not be opened, stat'ed, mapped or read (OS error) | check the path and permissions                  |
// | llmc.io.102  | safetensors file shorter than its 8-byte header length         | the file is truncated: download/copy it again   |
// | llmc.io.103  | header length above 100,000,000 bytes (the Rust library limit) | the file is corrupt or not a safetensors file   |
// | llmc.io.104  | header length runs past the end of the file                    | the file is truncated: download/copy it again   |
// | llmc.io.105  | JSON text (header, index, config) is not valid UTF-8           | the file is corrupt; re-create it               |
// | llmc.io.106  | JSON text is malformed (syntax error, nesting deeper than 128) | fix or re-create the file                       |
// | llmc.io.107  | the same key appears twice in one JSON object                  | remove the duplicate; no writer emits one       |
// | llmc.io.108  | header structure invalid: not an object, an entry lacks        | the header does not follow the safetensors      |
// |              | dtype/shape/data_offsets or has the wrong JSON type, a shape   | format; re-create the file                      |
// |              | dimension is negative, __metadata__ is not string -> string    |                                                 |
// | llmc.io.109  | unknown or unsupported dtype string                            | convert the tensor to a supported dtype         |
// | llmc.io.110  | data_offsets negative, not integers, or begin > end            | the file is corrupt; re-create it               |
// | llmc.io.111  | shape x dtype size differs from the byte range (or overflows)  | the file is corrupt; re-create it               |
// | llmc.io.112  | a byte range ends beyond the data section of the file          | the file is truncated or corrupt                |
// | llmc.io.113  | two tensors' byte ranges overlap                               | the file is corrupt (or hand-made); re-create   |
// | llmc.io.114  | the ranges leave a gap or unused trailing bytes in the data    | re-create the file with a standard writer       |
// |              | section (the Rust library requires exact contiguous cover)     |                                                 |
// | llmc.io.115  | tensor name not found (in a file, checkpoint or model folder)  | check the name against names()                  |
// | llmc.io.116  | typed access with the wrong dtype (as<T>, to_float32)          | read it with the matching C++ type              |
// | llmc.io.117  | zero-copy access to a view misaligned for T (as_span<T>)       | use as<T>() (which copies when misaligned)      |
// | llmc.io.118  | BOOL tensor holds a byte other than 0 or 1                     | the file is corrupt                             |
// | llmc.io.119  | to_float32 output span size differs from the tensor's numel    | programming error: size the output to numel()   |
// |              | (thrown as llmc::shape_error)                                  |                                                 |
// | llmc.io.120  | model.safetensors.index.json lacks weight_map or has wrong     | re-create the index (transformers layout:       |
// |              | types (weight_map must map tensor name -> shard file name)     | {"metadata":{...},"weight_map":{...}})          |
// | llmc.io.121  | a shard named by the index is missing                          | copy the missing shard into the folder          |
// | llmc.io.122  | a tensor appears in two shards, or in a shard other than the   | the checkpoint mixes two saves; re-download     |
// |              | one the index names                                            |                                                 |
// | llmc.io.123  | the index names a tensor its shard does not contain            | the index and the shards do not match           |
// | llmc.io.124  | the index names a shard outside the folder (path separators,   | refuse: the index is hostile or corrupt         |
// |              | "..", absolute path)                                           |                                                 |
// | llmc.io.130  | writer: two tensors with the same name                         | give every tensor a distinct name               |
// | llmc.io.131  | writer: byte count differs from shape x dtype size             | pass the full contiguous tensor data            |
// | llmc.io.132  | writer: writing, flushing or syncing a file failed (OS error)  | check free disk space and permissions           |
// | llmc.io.133  | writer: tensor/metadata name empty, not UTF-8, "__metadata__"  | rename the tensor                               |
// |              | or header above the 100,000,000-byte limit                     |                                                 |
// | llmc.io.140  | config.json / generation_config.json missing or unreadable     | the folder is not a Hugging Face model folder   |
// | llmc.io.141  | config field missing or of the wrong JSON type                 | fix config.json (the message names the field)   |
// | llmc.io.142  | unsupported architecture                                       | use one of the supported architectures listed   |
// | llmc.io.143  | config values inconsistent (heads do not divide hidden size,   | fix config.json                                 |
// |              | model_type does not match the architecture, non-positive size) |                                                 |
// | llmc.io.150  | model folder missing, not a folder, or without weights         | pass a folder with config.json and              |
// |              | (neither model.safetensors nor model.safetensors.index.json)   | model.safetensors or an index + shards          |
// | llmc.io.160  | output folder already exists and replace was not requested     | choose another folder or pass replace=true      |
// | llmc.io.161  | output folder is an input folder, inside one, or contains one  | write somewhere else: inputs are never touched  |
// | llmc.io.162  | output folder operation failed (mkdir, write, fsync, rename)   | check free space and permissions on the parent  |
// | llmc.io.163  | output folder used after commit() or committed twice           | programming error: create a new output_directory|
// | llmc.io.164  | relative file name escapes the output folder or is empty       | use a plain relative name such as "config.json" |
// |--------------|--------------- compressed-tensors checkpoints (io/compressed_tensors_*.hpp) ----------------------------|
// | llmc.io.201  | compressed-tensors version string unparsable or outside the    | target one of 0.11 .. 0.18 (e.g. "0.12", "0.18")|
// |              | supported range (config_error)                                 |                                                 |
// | llmc.io.202  | a scheme cannot be written for the target version or format    | raise the target version, or change the scheme  |
// |              | (MX before 0.13/0.15, quantized Embedding in 0.15-0.16, FP4    | (the message names the rule)                    |
// |              | with actorder=group, static output activations) (config_error) |                                                 |
// | llmc.io.203  | a compression format cannot store the module's scheme (forced  | drop the format override or pick one that fits  |
// |              | format mismatch, "dense"/"mixed-precision" for a module)       |                                                 |
// | llmc.io.204  | a module's shape does not fit its scheme, or a quantized tensor | use a group size that divides the width, another|
// |              | is inconsistent with its own layout (shape_error)              | config group, or ignore the module              |
// | llmc.io.205  | a quantized tensor's args differ from its config group, or the | quantize with the group's scheme; declare the   |
// |              | group index is unknown (config_error)                          | group with add_config_group first               |
// | llmc.io.206  | activation qparams do not match the scheme: a static input     | pass exactly the qparams the input args need    |
// |              | scale / zero point / NVFP4 global scale missing or unexpected  |                                                 |
// |              | (config_error)                                                 |                                                 |
// | llmc.io.207  | a scale or global scale is not finite and positive, or not     | the qparams were not made for this model dtype: |
// |              | exactly representable in its storage dtype (numeric_error)     | quantize with the model's own dtype             |
// | llmc.io.208  | a module or tensor is added twice, or the writer is used after | give each module/tensor once; create a new      |
// |              | finish()                                                        | writer per checkpoint                           |
// | llmc.io.210  | config.json has no quantization_config, or its quant_method is | the folder is not a compressed-tensors          |
// |              | not "compressed-tensors"                                       | checkpoint                                      |
// | llmc.io.211  | a quantization_config field is missing, of the wrong JSON type,| fix config.json (the message names the field)   |
// |              | unknown, or its quantization args are invalid                  |                                                 |
// | llmc.io.212  | a compression format this reader does not decode (sparse,      | decompress it with compressed-tensors first     |
// |              | marlin-24, unknown name)                                       |                                                 |
// | llmc.io.213  | a compressed module lacks a tensor its format needs, or one has| the checkpoint is corrupt or was written for    |
// |              | the wrong dtype or shape                                       | another scheme                                  |
// | llmc.io.214  | no module of that name holds a weight in the checkpoint        | check the name against modules()               |
// | llmc.io.215  | stored values are invalid: weight_shape disagrees with the     | the checkpoint is corrupt                       |
// |              | packed data, g_idx outside the groups, a NaN E8M0 scale        |                                                 |
// | llmc.io.216  | the model dtype of an NVFP4/MX module cannot be determined (no | pass the dtype to decompress explicitly         |
// |              | torch_dtype in config.json and no floating-point dense tensor) |                                                 |
// clang-format on

inline constexpr const char* os_error = "llmc.io.101";
inline constexpr const char* truncated_length = "llmc.io.102";
inline constexpr const char* header_too_large = "llmc.io.103";
inline constexpr const char* header_past_eof = "llmc.io.104";
inline constexpr const char* not_utf8 = "llmc.io.105";
inline constexpr const char* malformed_json = "llmc.io.106";
inline constexpr const char* duplicate_key = "llmc.io.107";
inline constexpr const char* bad_structure = "llmc.io.108";
inline constexpr const char* unknown_dtype = "llmc.io.109";
inline constexpr const char* bad_offsets = "llmc.io.110";
inline constexpr const char* size_mismatch = "llmc.io.111";
inline constexpr const char* out_of_bounds = "llmc.io.112";
inline constexpr const char* overlap = "llmc.io.113";
inline constexpr const char* gap = "llmc.io.114";
inline constexpr const char* tensor_not_found = "llmc.io.115";
inline constexpr const char* dtype_mismatch = "llmc.io.116";
inline constexpr const char* misaligned = "llmc.io.117";
inline constexpr const char* bad_bool = "llmc.io.118";
inline constexpr const char* output_size = "llmc.io.119";
inline constexpr const char* bad_index = "llmc.io.120";
inline constexpr const char* missing_shard = "llmc.io.121";
inline constexpr const char* tensor_in_two_shards = "llmc.io.122";
inline constexpr const char* index_tensor_absent = "llmc.io.123";
inline constexpr const char* unsafe_shard_name = "llmc.io.124";
inline constexpr const char* duplicate_tensor = "llmc.io.130";
inline constexpr const char* write_size_mismatch = "llmc.io.131";
inline constexpr const char* write_failed = "llmc.io.132";
inline constexpr const char* bad_tensor_name = "llmc.io.133";
inline constexpr const char* config_missing = "llmc.io.140";
inline constexpr const char* config_field = "llmc.io.141";
inline constexpr const char* unsupported_architecture = "llmc.io.142";
inline constexpr const char* config_inconsistent = "llmc.io.143";
inline constexpr const char* model_folder = "llmc.io.150";
inline constexpr const char* output_exists = "llmc.io.160";
inline constexpr const char* output_overlaps_input = "llmc.io.161";
inline constexpr const char* output_fs = "llmc.io.162";
inline constexpr const char* output_committed = "llmc.io.163";
inline constexpr const char* output_bad_name = "llmc.io.164";
inline constexpr const char* ct_version = "llmc.io.201";
inline constexpr const char* ct_unsupported_scheme = "llmc.io.202";
inline constexpr const char* ct_format_mismatch = "llmc.io.203";
inline constexpr const char* ct_shape = "llmc.io.204";
inline constexpr const char* ct_group_mismatch = "llmc.io.205";
inline constexpr const char* ct_activation_qparams = "llmc.io.206";
inline constexpr const char* ct_bad_scale = "llmc.io.207";
inline constexpr const char* ct_duplicate = "llmc.io.208";
inline constexpr const char* ct_not_compressed = "llmc.io.210";
inline constexpr const char* ct_config_field = "llmc.io.211";
inline constexpr const char* ct_unsupported_format = "llmc.io.212";
inline constexpr const char* ct_module_tensor = "llmc.io.213";
inline constexpr const char* ct_no_module = "llmc.io.214";
inline constexpr const char* ct_bad_values = "llmc.io.215";
inline constexpr const char* ct_model_dtype = "llmc.io.216";

}  // namespace llmc::io_errc
