#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "facet/artifact.hpp"
#include "facet/context.hpp"
#include "facet/export.hpp"

namespace facet {

/// An artifact file is plain HDF5: one top-level group per artifact, one
/// chunked dataset (with Fletcher-32 checksums) per tensor, HDF5 attributes
/// for artifact attributes, and file-level attributes on the root group.
/// Anything that reads HDF5 (h5py, h5dump) can open it.
using FileAttrs = std::map<std::string, AttrValue>;

/// Sets HDF5 up as facet needs it: errors become exceptions (no dumps on
/// stderr) and no clean-up runs at exit. Done on first use of an artifact
/// file; a program that calls HDF5 itself first calls this before.
FACET_API void init_hdf5();

/// Opens an artifact file read-only. Tensors stay on disk and are read on
/// demand. Throws facet::Error naming the file when it is missing, truncated
/// or not HDF5.
FACET_API Artifacts read_artifact_file(const std::filesystem::path& path, FileAttrs* file_attrs = nullptr);

class ArtifactFileWriterImpl;

/// Builds an artifact file under a temporary name and moves it into place
/// only on commit(), so readers never see a half-written file. Destroying an
/// uncommitted writer deletes the temporary file.
class FACET_API ArtifactFileWriter {
 public:
  /// `final_path` is where commit() puts the file.
  explicit ArtifactFileWriter(std::filesystem::path final_path);
  ~ArtifactFileWriter();
  ArtifactFileWriter(const ArtifactFileWriter&) = delete;
  ArtifactFileWriter& operator=(const ArtifactFileWriter&) = delete;

  /// A tensor of artifact `artifact` written in row slices.
  std::unique_ptr<RowWriter> create_rows(const std::string& artifact, const std::string& tensor,
                                         std::vector<std::int64_t> shape, torch::ScalarType dtype);
  /// Writes an artifact's attributes and tensors. Tensors already written
  /// through create_rows are kept; tensors stored elsewhere are copied in row
  /// slices, so memory stays bounded.
  void write(const std::string& artifact, const Artifact& value);
  void set_file_attr(const std::string& name, const AttrValue& value);
  /// Flushes, closes and atomically renames the file to its final path.
  void commit();
  const std::filesystem::path& temp_path() const;

 private:
  std::unique_ptr<ArtifactFileWriterImpl> impl_;
};

/// Writes `artifacts` to `path` atomically (convenience over ArtifactFileWriter).
FACET_API void write_artifact_file(const std::filesystem::path& path, const Artifacts& artifacts,
                                   const FileAttrs& file_attrs = {});

}  // namespace facet
