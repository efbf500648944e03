// Fuzzes the artifact reader on arbitrary bytes: a damaged or foreign file
// must be refused with a facet::Error, never crash or read out of bounds.
#include <cstdint>

#include "facet/artifact_file.hpp"
#include "facet/errors.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  facet::init_hdf5();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const auto file = facet::fuzz::input_file(data, size, ".h5");
  try {
    facet::FileAttrs attrs;
    const auto artifacts = facet::read_artifact_file(file, &attrs);
    for (const auto& [name, artifact] : artifacts) {
      for (const auto& tensor : artifact.tensor_names()) {
        // What a damaged header claims is not allocated: beyond a few MiB only the reading time grows.
        double bytes = static_cast<double>(c10::elementSize(artifact.dtype(tensor)));
        for (const auto d : artifact.shape(tensor)) bytes *= static_cast<double>(d);
        if (bytes <= 4.0 * (1 << 20)) (void)artifact.get(tensor);
      }
    }
  } catch (const facet::Error&) {
  }
  return 0;
}
