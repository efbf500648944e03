// Heavy headers compiled once for every target (see facet_use_pch).
#pragma once
#include <fmt/format.h>
#include <torch/torch.h>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>
