#pragma once

#include "facet/export.hpp"

namespace facet {

/// Makes glibc's malloc keep the memory that freed tensors leave for the next
/// tensors, instead of returning it to the system and faulting it in again.
/// By default glibc serves blocks above an adaptive threshold with mmap and
/// gives them back at free; which tensor buffers cross that threshold depends
/// on the process's allocation history, so a training step or an extraction
/// batch ran at one of two speeds, chosen at random per process (on an AMD
/// EPYC, Zen 5: extraction 3,400 or 6,000 images/s, in PyTorch for Python
/// too). With a fixed threshold of 32 MiB (glibc's largest) and no trimming
/// below 2 GiB, every process runs at the fast one (bench/vggface_vs_pytorch.sh).
/// Peak memory is unchanged; memory freed after the peak stays with the
/// process for its later steps. Call once, at the start of a program.
FACET_API void keep_freed_memory();

}  // namespace facet
