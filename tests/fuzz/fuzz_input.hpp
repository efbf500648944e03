#pragma once

// The fuzzers' input as a file: the readers under test take paths.

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace facet::fuzz {

/// A file of this process in /dev/shm (or the temporary folder) holding `size` bytes of `data`.
inline std::filesystem::path input_file(const std::uint8_t* data, size_t size, const std::string& suffix) {
  static const std::filesystem::path dir =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  const auto path = dir / ("facet-fuzz-" + std::to_string(::getpid()) + suffix);
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace facet::fuzz
