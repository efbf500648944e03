#pragma once

#include <map>
#include <string>

#include "facet/export.hpp"

namespace facet {

/// Draws a PNG with gnuplot and returns its bytes (for Context::save_file).
/// `script` is a gnuplot script without terminal or output settings; it
/// reads the `data` files by their names (name -> contents), which are
/// written to a temporary folder next to it. Throws facet::Error with
/// gnuplot's message when it fails, or when gnuplot is not installed.
FACET_API std::string gnuplot_png(const std::string& script, const std::map<std::string, std::string>& data,
                                  int width = 800, int height = 600);

}  // namespace facet
