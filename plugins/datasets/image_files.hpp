#pragma once

// Image bytes on disk: what format they are, whether they are whole, their
// MD5, where the downloader keeps them, and the face crop the loaders store.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <opencv2/core.hpp>

#include "index_files.hpp"

namespace facet::datasets {

/// "jpg", "png", "gif", "bmp" or "webp" by the leading bytes; empty when the
/// bytes are not an image (an HTML error page, say).
std::string sniff_image_format(std::string_view bytes);

/// False when an image is cut short: a JPEG without its end-of-image marker,
/// a PNG without its IEND chunk. (Decoders fill a truncated JPEG with gray
/// and only warn, so this is checked before decoding.)
bool image_is_complete(std::string_view bytes, const std::string& format);

/// Lower-case hex MD5 of bytes.
std::string md5_hex(std::string_view bytes);

std::string read_bytes(const std::filesystem::path& path);

/// The folder that holds `person`'s images: the name with ' ' and '/' as
/// '_'. Throws facet::Error for a name that would leave the download folder
/// or land in one of its own folders (empty, "..", a leading '.' or '_').
std::string person_folder(const std::string& person);

/// Where the downloader keeps image `imagenum` of `person`:
/// <root>/<person_folder(person)>/<imagenum>.<format>.
std::filesystem::path image_path(const std::filesystem::path& root, const std::string& person, std::int64_t imagenum,
                                 const std::string& format);
/// The stored file of that image, whatever its format; empty when absent.
std::filesystem::path find_image(const std::filesystem::path& root, const std::string& person, std::int64_t imagenum);

/// The square region a face box is cropped to: the box's centre, its longer
/// side plus `margin` of it on each side.
Rect crop_region(const Rect& box, double margin);

/// Crops `region` from `image` (BGR), padding with black where the region
/// leaves the image, and resizes it to size x size. Returns RGB.
cv::Mat crop_face(const cv::Mat& image, const Rect& region, int size);

/// Why an image could not be used, or empty when it decoded.
std::string decode_image(std::string_view bytes, cv::Mat& image);

}  // namespace facet::datasets
