#include "facet/context.hpp"

#include "facet/errors.hpp"

namespace facet {

void Context::check_cancelled() const {
  if (cancelled()) throw Cancelled();
}

}  // namespace facet
