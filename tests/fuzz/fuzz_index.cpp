// Fuzzes the index readers of PubFig, LFW and CelebA: any input must be read
// or refused with a facet::Error naming the file and line, never crash.
#include <cstdint>

#include "facet/errors.hpp"
#include "fuzz_input.hpp"
#include "index_files.hpp"

namespace datasets = facet::datasets;

namespace {
template <typename Read>
void attempt(Read read) {
  try {
    read();
  } catch (const facet::Error&) {
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const auto file = facet::fuzz::input_file(data, size, ".txt");
  attempt([&] { datasets::read_urls(file); });
  attempt([&] {
    const auto table = datasets::read_attribute_scores(file);
    const datasets::PubFigColumns columns(table, file);
    for (size_t row = 0; row < table.keys.size(); ++row) (void)columns.scores(row);
  });
  attempt([&] { datasets::read_people(file); });
  attempt([&] { datasets::read_image_labels(file); });
  attempt([&] { datasets::read_celeba_attributes(file); });
  attempt([&] { datasets::read_celeba_partition(file); });
  attempt([&] { datasets::read_celeba_boxes(file); });
  attempt([&] { datasets::read_celeba_identities(file); });
  return 0;
}
