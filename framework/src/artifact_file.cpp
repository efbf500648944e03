#include "facet/artifact_file.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/errors.hpp"
#include "facet/files.hpp"
#include "h5_handle.hpp"

namespace facet {
namespace fs = std::filesystem;
using h5::check;
using h5::check_status;
using h5::Handle;

namespace {

constexpr hsize_t kChunkBytes = 1 << 20;            // target bytes per HDF5 chunk (one row at least)
constexpr const char* kBoolMarker = "facet_dtype";  // dataset attribute marking bool tensors

/// An open HDF5 file shared by the tensors read from it.
struct OpenFile {
  Handle file;
  fs::path path;
};

class H5TensorSource final : public TensorSource {
 public:
  H5TensorSource(std::shared_ptr<OpenFile> file, std::string dataset)
      : file_(std::move(file)), dataset_(std::move(dataset)) {
    std::lock_guard lock(h5::h5_lock());
    Handle ds(check(H5Dopen2(file_->file.get(), dataset_.c_str(), H5P_DEFAULT), location()));
    Handle space(H5Dget_space(ds.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    shape_.assign(dims.begin(), dims.end());
    Handle type(H5Dget_type(ds.get()));
    dtype_ = h5::torch_type(type.get(), location());
    if (H5Aexists(ds.get(), kBoolMarker) > 0) dtype_ = torch::kBool;
  }

  std::vector<std::int64_t> shape() const override { return shape_; }
  torch::ScalarType dtype() const override { return dtype_; }
  std::string location() const override { return fmt::format("{}:{}", file_->path.string(), dataset_); }

  torch::Tensor read_rows(std::int64_t begin, std::int64_t end) const override {
    if (shape_.empty()) return read_scalar();
    if (begin < 0 || end > shape_[0] || begin > end) {
      throw Error(fmt::format("{}: rows [{}, {}) out of range (0..{})", location(), begin, end, shape_[0]));
    }
    std::vector<std::int64_t> out_shape = shape_;
    out_shape[0] = end - begin;
    auto out = torch::empty(out_shape, torch::TensorOptions().dtype(dtype_));
    if (out.numel() == 0) return out;
    std::lock_guard lock(h5::h5_lock());
    Handle ds(check(H5Dopen2(file_->file.get(), dataset_.c_str(), H5P_DEFAULT), location()));
    Handle file_space(H5Dget_space(ds.get()));
    std::vector<hsize_t> start(shape_.size(), 0);
    std::vector<hsize_t> count(out_shape.begin(), out_shape.end());
    start[0] = static_cast<hsize_t>(begin);
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    Handle mem_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
    h5::check_read(
        H5Dread(ds.get(), h5::mem_type(dtype_), mem_space.get(), file_space.get(), H5P_DEFAULT, out.data_ptr()),
        file_->path, location());
    return out;
  }

 private:
  torch::Tensor read_scalar() const {
    auto out = torch::empty({}, torch::TensorOptions().dtype(dtype_));
    std::lock_guard lock(h5::h5_lock());
    Handle ds(check(H5Dopen2(file_->file.get(), dataset_.c_str(), H5P_DEFAULT), location()));
    h5::check_read(H5Dread(ds.get(), h5::mem_type(dtype_), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()), file_->path,
                   location());
    return out;
  }

  std::shared_ptr<OpenFile> file_;
  std::string dataset_;
  std::vector<std::int64_t> shape_;
  torch::ScalarType dtype_ = torch::kFloat32;
};

/// An object's name at `index` of `count` (HDF5 names may be longer than a first guess).
template <typename GetName>
std::string name_at(GetName get_name, const std::string& where) {
  const ssize_t length = get_name(nullptr, 0);
  if (length < 0) h5::check_status(-1, where + ": unreadable name");
  std::string name(static_cast<size_t>(length) + 1, '\0');
  h5::check_status(get_name(name.data(), name.size()) < 0 ? -1 : 0, where + ": unreadable name");
  name.resize(static_cast<size_t>(length));
  return name;
}

std::vector<std::string> member_names(hid_t group, H5O_type_t wanted, const std::string& where) {
  std::vector<std::string> names;
  H5G_info_t info;
  h5::check_status(H5Gget_info(group, &info), where);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const auto name = name_at(
        [&](char* buffer, size_t size) {
          return H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, buffer, size, H5P_DEFAULT);
        },
        where);
    H5O_info_t oinfo;
    if (H5Oget_info_by_name(group, name.c_str(), &oinfo, H5P_DEFAULT) >= 0 && oinfo.type == wanted) {
      names.push_back(name);
    }
    H5Eclear2(H5E_DEFAULT);
  }
  return names;
}

std::map<std::string, AttrValue> read_attrs(hid_t obj, const std::string& where) {
  std::map<std::string, AttrValue> attrs;
  H5O_info_t info;
  h5::check_status(H5Oget_info(obj, &info), where);
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    const auto name = name_at(
        [&](char* buffer, size_t size) {
          return H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, buffer, size, H5P_DEFAULT);
        },
        where);
    if (name == kBoolMarker) continue;
    attrs[name] = h5::read_attr(obj, name, where);
  }
  return attrs;
}

/// Refuses a file whose metadata carries no checksums (HDF5 superblock
/// before version 2): HDF5 parses damaged metadata of such files blindly and
/// can crash. Every artifact file facet writes has them.
void check_metadata_checksums(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  static const unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (!in || std::memcmp(head, kSignature, sizeof kSignature) != 0) {
    throw Error(fmt::format("{}: not an HDF5 file (damaged or foreign)", path.string()));
  }
  if (head[8] < 2) {
    throw Error(
        fmt::format("{}: HDF5 superblock version {} keeps no metadata checksums: written by an older facet "
                    "or another program (facet writes HDF5 1.10's format); recompute it",
                    path.string(), static_cast<int>(head[8])));
  }
}

}  // namespace

Artifacts read_artifact_file(const fs::path& path, FileAttrs* file_attrs) {
  std::lock_guard lock(h5::h5_lock());
  if (!fs::exists(path)) throw Error(fmt::format("{}: no such file", path.string()));
  check_metadata_checksums(path);
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw Error(fmt::format("{}: not an HDF5 file (damaged or foreign)", path.string()));
  }
  auto file = std::make_shared<OpenFile>();
  file->path = path;
  file->file = Handle(check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                            fmt::format("{}: cannot open (damaged or truncated?)", path.string())));
  Handle root(check(H5Gopen2(file->file.get(), "/", H5P_DEFAULT), path.string()));
  if (file_attrs != nullptr) *file_attrs = read_attrs(root.get(), path.string());
  Artifacts artifacts;
  for (const auto& group_name : member_names(root.get(), H5O_TYPE_GROUP, path.string())) {
    const std::string where = fmt::format("{}:/{}", path.string(), group_name);
    Handle group(check(H5Gopen2(root.get(), group_name.c_str(), H5P_DEFAULT), where));
    Artifact artifact;
    for (auto& [name, value] : read_attrs(group.get(), where)) artifact.set_attr(name, value);
    for (const auto& ds : member_names(group.get(), H5O_TYPE_DATASET, where)) {
      artifact.set(ds, std::make_shared<H5TensorSource>(file, "/" + group_name + "/" + ds));
    }
    artifacts.emplace(group_name, std::move(artifact));
  }
  return artifacts;
}

// ---------------------------------------------------------------------------

class ArtifactFileWriterImpl {
 public:
  explicit ArtifactFileWriterImpl(fs::path final_path) : final_path_(std::move(final_path)) {
    temp_path_ = temp_path_for(final_path_);
    if (!final_path_.parent_path().empty()) fs::create_directories(final_path_.parent_path());
    std::lock_guard lock(h5::h5_lock());
    file_ = std::make_shared<OpenFile>();
    file_->path = temp_path_;
    // HDF5 1.10's file format checksums every piece of metadata (superblock,
    // object headers, chunk indexes), so damage is reported, not parsed.
    Handle access(H5Pcreate(H5P_FILE_ACCESS));
    check_status(H5Pset_libver_bounds(access.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), "HDF5 file format 1.10");
    file_->file = Handle(check(H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()),
                               "cannot create " + temp_path_.string()));
  }

  ~ArtifactFileWriterImpl() {
    if (committed_) return;
    file_->file = Handle();
    std::error_code ignored;
    fs::remove(temp_path_, ignored);
  }

  hid_t group(const std::string& artifact) {
    std::lock_guard lock(h5::h5_lock());
    auto it = groups_.find(artifact);
    if (it != groups_.end()) return it->second.get();
    Handle g(check(H5Gcreate2(file_->file.get(), artifact.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   fmt::format("{}: cannot create group {}", temp_path_.string(), artifact)));
    return groups_.emplace(artifact, std::move(g)).first->second.get();
  }

  /// Creates a chunked, checksummed dataset of `shape` and returns its path.
  std::string create_dataset(const std::string& artifact, const std::string& tensor,
                             const std::vector<std::int64_t>& shape, torch::ScalarType dtype) {
    const hid_t g = group(artifact);
    std::lock_guard lock(h5::h5_lock());
    const std::string where = fmt::format("{}:/{}/{}", temp_path_.string(), artifact, tensor);
    if (H5Lexists(g, tensor.c_str(), H5P_DEFAULT) > 0) {
      throw Error(where + ": tensor written twice");
    }
    const hid_t type = h5::mem_type(dtype);
    Handle ds;
    if (shape.empty()) {
      Handle space(H5Screate(H5S_SCALAR));
      ds =
          Handle(check(H5Dcreate2(g, tensor.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where));
    } else {
      std::vector<hsize_t> dims(shape.begin(), shape.end());
      std::vector<hsize_t> max_dims(dims.size(), H5S_UNLIMITED);
      std::vector<hsize_t> chunk(dims.size());
      hsize_t row_bytes = H5Tget_size(type);
      for (size_t d = 1; d < dims.size(); ++d) {
        chunk[d] = std::max<hsize_t>(dims[d], 1);
        row_bytes *= chunk[d];
      }
      chunk[0] = std::clamp<hsize_t>(kChunkBytes / row_bytes, 1, std::max<hsize_t>(dims[0], 1));
      Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()));
      Handle plist(H5Pcreate(H5P_DATASET_CREATE));
      H5Pset_chunk(plist.get(), static_cast<int>(chunk.size()), chunk.data());
      H5Pset_fletcher32(plist.get());
      ds =
          Handle(check(H5Dcreate2(g, tensor.c_str(), type, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT), where));
    }
    if (dtype == torch::kBool) h5::write_attr(ds.get(), kBoolMarker, std::string("bool"));
    return "/" + artifact + "/" + tensor;
  }

  void write_rows(const std::string& dataset, std::int64_t begin, const torch::Tensor& rows) {
    auto data = rows.contiguous().cpu();
    if (data.scalar_type() == torch::kBool) data = data.to(torch::kUInt8);
    std::lock_guard lock(h5::h5_lock());
    const std::string where = temp_path_.string() + ":" + dataset;
    Handle ds(check(H5Dopen2(file_->file.get(), dataset.c_str(), H5P_DEFAULT), where));
    if (data.dim() == 0) {
      check_status(H5Dwrite(ds.get(), h5::mem_type(rows.scalar_type()), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data_ptr()),
                   where);
      return;
    }
    if (data.numel() == 0) return;
    Handle file_space(H5Dget_space(ds.get()));
    std::vector<hsize_t> start(static_cast<size_t>(data.dim()), 0);
    std::vector<hsize_t> count(data.sizes().begin(), data.sizes().end());
    start[0] = static_cast<hsize_t>(begin);
    check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                 where);
    Handle mem_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
    check_status(H5Dwrite(ds.get(), h5::mem_type(rows.scalar_type()), mem_space.get(), file_space.get(), H5P_DEFAULT,
                          data.data_ptr()),
                 where);
  }

  void shrink_rows(const std::string& dataset, std::vector<std::int64_t> shape) {
    std::lock_guard lock(h5::h5_lock());
    const std::string where = temp_path_.string() + ":" + dataset;
    Handle ds(check(H5Dopen2(file_->file.get(), dataset.c_str(), H5P_DEFAULT), where));
    const std::vector<hsize_t> dims(shape.begin(), shape.end());
    check_status(H5Dset_extent(ds.get(), dims.data()), where);
  }

  std::shared_ptr<const TensorSource> source(const std::string& dataset) {
    return std::make_shared<H5TensorSource>(file_, dataset);
  }

  bool owns(const TensorSource& source) const {
    const auto* h5 = dynamic_cast<const H5TensorSource*>(&source);
    return h5 != nullptr && h5->location().rfind(temp_path_.string() + ":", 0) == 0;
  }

  void commit() {
    {
      std::lock_guard lock(h5::h5_lock());
      groups_.clear();
      const std::string what = "cannot write " + final_path_.string();
      check_status(H5Fflush(file_->file.get(), H5F_SCOPE_GLOBAL), what);
      check_status(H5Fclose(file_->file.release()), what);
    }
    fs::rename(temp_path_, final_path_);
    committed_ = true;
  }

  fs::path final_path_;
  fs::path temp_path_;
  std::shared_ptr<OpenFile> file_;
  std::map<std::string, Handle> groups_;
  bool committed_ = false;
};

namespace {

class H5RowWriter final : public RowWriter {
 public:
  H5RowWriter(ArtifactFileWriterImpl& file, std::string dataset, std::vector<std::int64_t> shape,
              torch::ScalarType dtype)
      : file_(file), dataset_(std::move(dataset)), shape_(std::move(shape)), dtype_(dtype) {}

  void append(const torch::Tensor& rows) override {
    if (shape_.empty()) throw Error(dataset_ + ": a scalar has no rows to append");
    if (rows.scalar_type() != dtype_) {
      throw Error(fmt::format("{}: appended rows are {}, the tensor is {}", dataset_, c10::toString(rows.scalar_type()),
                              c10::toString(dtype_)));
    }
    const auto sizes = rows.sizes().vec();
    bool shape_ok = sizes.size() == shape_.size() && std::equal(sizes.begin() + 1, sizes.end(), shape_.begin() + 1);
    if (!shape_ok || written_ + sizes[0] > shape_[0]) {
      throw Error(fmt::format("{}: appended rows of shape [{}] do not fit shape [{}] after {} rows", dataset_,
                              fmt::join(sizes, ", "), fmt::join(shape_, ", "), written_));
    }
    file_.write_rows(dataset_, written_, rows);
    written_ += sizes[0];
  }

  std::shared_ptr<const TensorSource> finish() override {
    if (!shape_.empty() && written_ != shape_[0]) {
      throw Error(fmt::format("{}: finished after {} of {} rows", dataset_, written_, shape_[0]));
    }
    return file_.source(dataset_);
  }

  std::shared_ptr<const TensorSource> finish_early() override {
    if (shape_.empty()) return finish();
    shape_[0] = written_;
    file_.shrink_rows(dataset_, shape_);
    return file_.source(dataset_);
  }

 private:
  ArtifactFileWriterImpl& file_;
  std::string dataset_;
  std::vector<std::int64_t> shape_;
  torch::ScalarType dtype_;
  std::int64_t written_ = 0;
};

constexpr std::int64_t kCopyBytes = 64 << 20;  // bytes per slice when copying a stored tensor

}  // namespace

ArtifactFileWriter::ArtifactFileWriter(fs::path final_path)
    : impl_(std::make_unique<ArtifactFileWriterImpl>(std::move(final_path))) {}
ArtifactFileWriter::~ArtifactFileWriter() = default;

std::unique_ptr<RowWriter> ArtifactFileWriter::create_rows(const std::string& artifact, const std::string& tensor,
                                                           std::vector<std::int64_t> shape, torch::ScalarType dtype) {
  auto dataset = impl_->create_dataset(artifact, tensor, shape, dtype);
  return std::make_unique<H5RowWriter>(*impl_, std::move(dataset), std::move(shape), dtype);
}

void ArtifactFileWriter::write(const std::string& artifact, const Artifact& value) {
  const hid_t group = impl_->group(artifact);
  for (const auto& [name, attr] : value.attrs()) h5::write_attr(group, name, attr);
  for (const auto& name : value.tensor_names()) {
    auto stored = value.stored(name);
    if (stored && impl_->owns(*stored)) continue;
    const auto shape = value.shape(name);
    const auto dtype = value.dtype(name);
    const auto dataset = impl_->create_dataset(artifact, name, shape, dtype);
    if (!stored || shape.empty()) {
      impl_->write_rows(dataset, 0, value.get(name));
      continue;
    }
    std::int64_t row_bytes = c10::elementSize(dtype);
    for (size_t d = 1; d < shape.size(); ++d) row_bytes *= shape[d];
    const std::int64_t step = std::max<std::int64_t>(1, kCopyBytes / std::max<std::int64_t>(row_bytes, 1));
    for (std::int64_t begin = 0; begin < shape[0]; begin += step) {
      const auto end = std::min(shape[0], begin + step);
      impl_->write_rows(dataset, begin, stored->read_rows(begin, end));
    }
  }
}

void ArtifactFileWriter::set_file_attr(const std::string& name, const AttrValue& value) {
  std::lock_guard lock(h5::h5_lock());
  Handle root(H5Gopen2(impl_->file_->file.get(), "/", H5P_DEFAULT));
  h5::write_attr(root.get(), name, value);
}

void ArtifactFileWriter::commit() { impl_->commit(); }

const fs::path& ArtifactFileWriter::temp_path() const { return impl_->temp_path_; }

void write_artifact_file(const fs::path& path, const Artifacts& artifacts, const FileAttrs& file_attrs) {
  ArtifactFileWriter writer(path);
  for (const auto& [name, artifact] : artifacts) writer.write(name, artifact);
  for (const auto& [name, value] : file_attrs) writer.set_file_attr(name, value);
  writer.commit();
}

}  // namespace facet
