#pragma once

// Files written whole or not at all, and the temporaries that make it so.
// Every file facet writes (cache entries, run folders, downloads) goes to a
// temporary beside its final path first and is renamed into place once
// complete; a process that dies leaves only its temporary, which the next run
// removes.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "facet/export.hpp"

namespace facet {

/// Writes `bytes` to `path` atomically (parent folders are created). Throws
/// facet::Error naming the path and the system's reason ("No space left on
/// device"); nothing is left behind then, not even an empty file.
FACET_API void write_file(const std::filesystem::path& path, std::string_view bytes);

/// The temporary this process writes before renaming it to `path`:
/// "<path>.tmp-<host>-<pid>".
FACET_API std::filesystem::path temp_path_for(const std::filesystem::path& path);

/// A temporary in `dir` left behind by a process of this machine that no
/// longer runs (killed, or its machine lost power).
struct FACET_API StaleTemporary {
  std::filesystem::path path;
  long pid = 0;
};

/// Removes the stale temporaries directly inside `dir` and returns them. A
/// temporary of another machine (a shared folder) or of a live process stays.
FACET_API std::vector<StaleTemporary> remove_stale_temporaries(const std::filesystem::path& dir);

/// A system error as one line: "<what>: <strerror(errno_value)>".
FACET_API std::string system_error_text(const std::string& what, int errno_value);

}  // namespace facet
