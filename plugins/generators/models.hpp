#pragma once

// Each generator's model artifact: the architecture as attributes beside the
// weights, written by its step and rebuilt by the sampler.

#include <facet/artifact.hpp>

#include "draw_model.hpp"
#include "gan_model.hpp"

namespace facet::generators {

Artifact draw_artifact(draw::Draw& net);
draw::Draw load_draw(const Artifact& model);

Artifact gan_artifact(gan::Gan& net);
gan::Gan load_gan(const Artifact& model);

}  // namespace facet::generators
