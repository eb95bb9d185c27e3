// llmc/text.hpp — the text layer (opt-in; needs llmc::text): the tokenizer.json BPE tokenizer.
#pragma once

#include "llmc/text/tokenizer.hpp"
#include "llmc/text/chat_template.hpp"
#include "llmc/text/dataset.hpp"
