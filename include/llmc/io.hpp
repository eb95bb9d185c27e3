// llmc/io.hpp — the I/O layer (opt-in; needs nlohmann-json through llmc::io): safetensors
// reading and writing, model directories, config.json, safe output directories.
#pragma once

#include "llmc/io/checkpoint.hpp"
#include "llmc/io/dtype.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/file.hpp"
#include "llmc/io/json.hpp"
#include "llmc/io/model_config.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/io/output_directory.hpp"
#include "llmc/io/safetensors.hpp"
#include "llmc/io/safetensors_writer.hpp"
#include "llmc/io/compressed_tensors_config.hpp"
#include "llmc/io/compressed_tensors_format.hpp"
#include "llmc/io/compressed_tensors_reader.hpp"
#include "llmc/io/compressed_tensors_writer.hpp"
