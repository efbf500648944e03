#pragma once

/// Version of the plugin SDK's binary interface. Bump it whenever a class in
/// facet/include changes layout or a virtual function is added, removed or
/// reordered: the runner refuses plugins built against another value.
#define FACET_SDK_ABI_VERSION 5u

/// Marks a symbol of the core library as part of the SDK. Everything is built
/// with hidden visibility, so only marked symbols are exported.
#define FACET_API __attribute__((visibility("default")))

/// Keeps a namespace's symbols inside their library even where an SDK header
/// defines them (each plugin holds its own step list).
#define FACET_LOCAL [[gnu::visibility("hidden")]]
