#include "h5_handle.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "facet/artifact_file.hpp"
#include "facet/errors.hpp"

namespace facet {

void init_hdf5() {
  static const bool done = [] {
    // No clean-up at exit: HDF5 1.10's closes a file whose flush failed (a
    // full disk) a second time there and crashes. Every file facet writes is
    // closed explicitly; what is left open at exit was only read.
    H5dont_atexit();
    // HDF5 errors become facet::Error messages (see check), not stack dumps on stderr.
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

}  // namespace facet

namespace facet::h5 {

std::recursive_mutex& h5_lock() {
  static std::recursive_mutex mutex;
  init_hdf5();
  return mutex;
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    Handle dying(id_);
    id_ = other.release();
  }
  return *this;
}

hid_t Handle::release() {
  hid_t id = id_;
  id_ = -1;
  return id;
}

Handle::~Handle() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
}

namespace {
struct ErrorStack {
  std::string innermost;  ///< the most specific description
  std::string all;        ///< every description, one per line
  int system_errno = 0;   ///< the errno a failed read or write reported, if any
};

herr_t walk_error(unsigned, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<ErrorStack*>(data);
  if (err->desc == nullptr || err->desc[0] == '\0') return 0;
  out->innermost = err->desc;
  out->all += std::string(err->desc) + "\n";
  // The file drivers write "..., errno = 28, error message = '...', ...".
  if (const char* at = std::strstr(err->desc, "errno = "); at != nullptr && out->system_errno == 0) {
    out->system_errno = std::atoi(at + 8);
  }
  return 0;
}

/// The pending HDF5 error as (one line for the user, every description for the log).
std::pair<std::string, std::string> take_error() {
  ErrorStack stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_error, &stack);
  H5Eclear2(H5E_DEFAULT);
  // A system error (a full disk) is what the user can act on; HDF5's own text goes to the log.
  std::string reason = stack.system_errno != 0   ? std::strerror(stack.system_errno)
                       : stack.innermost.empty() ? std::string("unknown HDF5 error")
                                                 : stack.innermost;
  return {std::move(reason), std::move(stack.all)};
}

[[noreturn]] void throw_last_error(const std::string& what) {
  auto [reason, detail] = take_error();
  throw Error(fmt::format("{}: {}", what, reason), detail);
}
}  // namespace

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw_last_error(what);
  return id;
}

void check_status(herr_t status, const std::string& what) {
  if (status < 0) throw_last_error(what);
}

void check_read(herr_t status, const std::filesystem::path& file, const std::string& what) {
  if (status >= 0) return;
  auto [reason, detail] = take_error();
  throw DamagedFile(fmt::format("{}: damaged data ({})", what, reason), file, detail);
}

hid_t mem_type(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return H5T_NATIVE_FLOAT;
    case torch::kFloat64:
      return H5T_NATIVE_DOUBLE;
    case torch::kInt64:
      return H5T_NATIVE_INT64;
    case torch::kInt32:
      return H5T_NATIVE_INT32;
    case torch::kInt16:
      return H5T_NATIVE_INT16;
    case torch::kInt8:
      return H5T_NATIVE_INT8;
    case torch::kUInt8:
    case torch::kBool:
      return H5T_NATIVE_UINT8;
    default:
      throw Error(
          fmt::format("tensors of type {} cannot be stored in an artifact; "
                      "convert to float32, float64, int64, int32, int16, int8, uint8 or bool",
                      c10::toString(dtype)));
  }
}

torch::ScalarType torch_type(hid_t h5type, const std::string& where) {
  const size_t size = H5Tget_size(h5type);
  switch (H5Tget_class(h5type)) {
    case H5T_FLOAT:
      if (size == 4) return torch::kFloat32;
      if (size == 8) return torch::kFloat64;
      break;
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(h5type) == H5T_SGN_2;
      if (!is_signed && size == 1) return torch::kUInt8;
      if (is_signed && size == 1) return torch::kInt8;
      if (is_signed && size == 2) return torch::kInt16;
      if (is_signed && size == 4) return torch::kInt32;
      if (is_signed && size == 8) return torch::kInt64;
      break;
    }
    default:
      break;
  }
  throw Error(fmt::format("{}: unsupported HDF5 element type (class {}, {} bytes)", where,
                          static_cast<int>(H5Tget_class(h5type)), size));
}

namespace {
/// Fixed-length UTF-8 strings of `size` bytes, padded with zeros. Fixed, not
/// variable-length: those live in HDF5's global heap, which has no checksum,
/// so a damaged file could make HDF5 read out of bounds.
Handle string_type(size_t size) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), std::max<size_t>(size, 1));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

void write_raw_attr(hid_t obj, const std::string& name, hid_t type, hid_t space, const void* data) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle attr(
      check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "cannot create attribute " + name));
  check_status(H5Awrite(attr.get(), type, data), "cannot write attribute " + name);
}

void write_strings(hid_t obj, const std::string& name, const std::vector<std::string>& items, bool scalar) {
  size_t width = 1;
  for (const auto& item : items) {
    if (item.find('\0') != std::string::npos) {
      throw Error(fmt::format("attribute '{}': a text holds a zero byte, which HDF5 strings cannot keep", name));
    }
    width = std::max(width, item.size());
  }
  std::string packed(width * items.size(), '\0');
  for (size_t i = 0; i < items.size(); ++i) packed.replace(i * width, items[i].size(), items[i]);
  const hsize_t n = items.size();
  Handle space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr));
  write_raw_attr(obj, name, string_type(width).get(), space.get(), packed.empty() ? "" : packed.data());
}
}  // namespace

void write_attr(hid_t obj, const std::string& name, const AttrValue& value) {
  std::lock_guard lock(h5_lock());
  Handle scalar(H5Screate(H5S_SCALAR));
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    write_raw_attr(obj, name, H5T_NATIVE_INT64, scalar.get(), i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    write_raw_attr(obj, name, H5T_NATIVE_DOUBLE, scalar.get(), d);
  } else if (const auto* s = std::get_if<std::string>(&value)) {
    write_strings(obj, name, {*s}, /*scalar=*/true);
  } else {
    write_strings(obj, name, std::get<std::vector<std::string>>(value), /*scalar=*/false);
  }
}

AttrValue read_attr(hid_t obj, const std::string& name, const std::string& where) {
  std::lock_guard lock(h5_lock());
  const std::string what = fmt::format("{}: attribute '{}'", where, name);
  Handle attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), what));
  Handle type(check(H5Aget_type(attr.get()), what));
  Handle space(check(H5Aget_space(attr.get()), what));
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  const bool scalar = H5Sget_simple_extent_type(space.get()) == H5S_SCALAR;
  if (count < 0 || count > (1 << 24)) throw Error(what + ": damaged dataspace");
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER: {
      std::vector<std::int64_t> values(static_cast<size_t>(std::max<hssize_t>(count, 1)));
      check_status(H5Aread(attr.get(), H5T_NATIVE_INT64, values.data()), what);
      return values.at(0);
    }
    case H5T_FLOAT: {
      std::vector<double> values(static_cast<size_t>(std::max<hssize_t>(count, 1)));
      check_status(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, values.data()), what);
      return values.at(0);
    }
    case H5T_STRING: {
      if (H5Tis_variable_str(type.get()) != 0) {
        throw Error(what + ": variable-length strings are not read (facet writes fixed-length ones)");
      }
      const size_t width = H5Tget_size(type.get());
      if (width == 0 || width > (1 << 20)) throw Error(what + ": damaged string type");
      Handle mem = string_type(width);
      std::string packed(width * static_cast<size_t>(std::max<hssize_t>(count, 1)), '\0');
      if (count > 0) check_status(H5Aread(attr.get(), mem.get(), packed.data()), what);
      std::vector<std::string> list;
      for (hssize_t i = 0; i < count; ++i) {
        const std::string item = packed.substr(static_cast<size_t>(i) * width, width);
        list.push_back(item.substr(0, item.find('\0')));
      }
      if (scalar) return list.empty() ? std::string() : list.front();
      return list;
    }
    default:
      throw Error(what + ": unsupported attribute type");
  }
}

}  // namespace facet::h5
