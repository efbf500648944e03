# Finds facet's dependencies (Debian packages, see ../debian-packages.txt).
# The official LibTorch distribution (CUDA) works too:
#   cmake -B build -DCMAKE_PREFIX_PATH=/path/to/libtorch

find_package(Torch REQUIRED)
# c10d's Gloo process group includes Gloo's headers (Debian: libgloo-dev).
find_path(FACET_GLOO_INCLUDE gloo/algorithm.h HINTS ${TORCH_INCLUDE_DIRS})
if(NOT FACET_GLOO_INCLUDE)
  message(FATAL_ERROR "Gloo's headers (gloo/algorithm.h) are missing: install libgloo-dev (third_party/install.sh), "
                      "or add the folder that holds gloo/ to CMAKE_PREFIX_PATH")
endif()
# A CUDA build of LibTorch has NCCL: the runner sums CUDA tensors with it.
if(C10_CUDA_LIBRARY)
  set(FACET_WITH_NCCL ON)
endif()
find_package(yaml-cpp REQUIRED)
find_package(Boost 1.71 REQUIRED COMPONENTS program_options)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(fmt REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Threads REQUIRED)
find_package(CURL REQUIRED)
find_package(nlohmann_json 3 REQUIRED)

# Debian splits OpenCV into per-module packages without the CMake config;
# fall back to the plain libraries when OpenCVConfig.cmake is absent.
find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
if(NOT TARGET facet_opencv)
  add_library(facet_opencv INTERFACE)
  if(OpenCV_FOUND)
    target_link_libraries(facet_opencv INTERFACE ${OpenCV_LIBS})
    target_include_directories(facet_opencv INTERFACE ${OpenCV_INCLUDE_DIRS})
  else()
    find_path(FACET_OPENCV_INCLUDE opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
    foreach(module core imgproc imgcodecs)
      find_library(FACET_OPENCV_${module} opencv_${module} REQUIRED)
      target_link_libraries(facet_opencv INTERFACE ${FACET_OPENCV_${module}})
    endforeach()
    target_include_directories(facet_opencv INTERFACE ${FACET_OPENCV_INCLUDE})
  endif()
endif()

# HDF5 as one imported target.
if(NOT TARGET facet_hdf5)
  add_library(facet_hdf5 INTERFACE)
  target_include_directories(facet_hdf5 INTERFACE ${HDF5_INCLUDE_DIRS})
  target_link_libraries(facet_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
  target_compile_definitions(facet_hdf5 INTERFACE ${HDF5_DEFINITIONS})
endif()

# GitHub-flavoured Markdown (tables) for the run reports; Debian's
# libcmark-gfm-dev ships no CMake config.
if(NOT TARGET facet_cmark)
  find_path(FACET_CMARK_INCLUDE cmark-gfm.h REQUIRED)
  find_library(FACET_CMARK_LIBRARY cmark-gfm REQUIRED)
  find_library(FACET_CMARK_EXTENSIONS_LIBRARY cmark-gfm-extensions REQUIRED)
  add_library(facet_cmark INTERFACE)
  target_include_directories(facet_cmark INTERFACE ${FACET_CMARK_INCLUDE})
  target_link_libraries(facet_cmark INTERFACE ${FACET_CMARK_EXTENSIONS_LIBRARY} ${FACET_CMARK_LIBRARY})
endif()
