// synthfaces: a procedural face dataset labelled with PubFig's 73 attributes.
#include <ATen/Parallel.h>
#include <opencv2/core.hpp>

#include <facet/plugin.hpp>
#include <facet/pubfig.hpp>

#include "face_renderer.hpp"
#include "face_sampler.hpp"

namespace synthfaces = facet::synthfaces;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

constexpr std::int64_t kChunk = 512;  // images rendered and written per slice

class SynthFacesStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"synthfaces",
            "1.2",
            "Procedural anti-aliased faces of synthetic persons, labelled with PubFig's 73 attribute scores",
            "dataset",
            {ParamSpec::integer("count", 6000, "number of images").range(1, 10'000'000),
             ParamSpec::integer("size", 64, "image width and height in pixels").range(16, 1024),
             ParamSpec::integer("persons", 200,
                                "number of synthetic persons (fixed skin tone, face shape, eye "
                                "colour, hair)")
                 .range(1, 1'000'000),
             ParamSpec::real("label_noise", 0.01,
                             "fraction of rendered-attribute scores flipped to the other "
                             "sign near the boundary")
                 .range(0.0, 0.5)},
            {},
            {{"images", "images [N, 3, size, size] uint8 RGB, person [N], image_id [N]"},
             {"attributes",
              "scores [N, 73] float32 (sign = label), person [N], image_id [N]; attribute_names, "
              "rendered_attributes"}}};
  }

  Artifacts run(const Artifacts&, const facet::Params& params, facet::Context& ctx) override {
    const std::int64_t count = params.get_int("count"), size = params.get_int("size");
    const std::int64_t persons = params.get_int("persons");
    const double label_noise = params.get_float("label_noise");
    const std::uint64_t seed = ctx.seed();
    cv::setNumThreads(1);  // parallel over images instead

    std::vector<synthfaces::Person> people;
    for (std::int64_t id = 0; id < persons; ++id) people.push_back(synthfaces::sample_person(seed, id));

    auto pixels = ctx.create_rows("images", "images", {count, 3, size, size}, torch::kUInt8);
    auto scores = torch::empty({count, facet::pubfig::kNumAttributes}, torch::kFloat32);
    auto person = torch::empty({count}, torch::kInt64);
    auto progress = ctx.progress("rendering", count, "faces");
    for (std::int64_t begin = 0; begin < count; begin += kChunk) {
      const std::int64_t end = std::min(count, begin + kChunk);
      auto chunk = torch::empty({end - begin, size, size, 3}, torch::kUInt8);
      at::parallel_for(begin, end, 1, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) {
          // Each image has its own generator: the same numbers whatever the thread count.
          synthfaces::Rng rng(seed ^ (0xA24BAED4963EE407ULL * static_cast<std::uint64_t>(i + 1)));
          const std::int64_t who = static_cast<std::int64_t>(rng.next() % static_cast<std::uint64_t>(persons));
          const auto state = synthfaces::sample_state(people[static_cast<size_t>(who)], rng);
          synthfaces::fill_scores(people[static_cast<size_t>(who)], state, label_noise, rng,
                                  scores[i].data_ptr<float>());
          person[i] = who;
          cv::Mat image(static_cast<int>(size), static_cast<int>(size), CV_8UC3, chunk[i - begin].data_ptr());
          synthfaces::render_face(people[static_cast<size_t>(who)], state, image);
        }
      });
      pixels->append(chunk.permute({0, 3, 1, 2}).contiguous());
      progress->advance(end - begin);
    }

    std::vector<std::string> names(facet::pubfig::kAttributeNames.begin(), facet::pubfig::kAttributeNames.end());
    std::vector<std::string> rendered;
    for (int a : synthfaces::rendered_attributes()) rendered.push_back(names[static_cast<size_t>(a)]);
    const auto image_id = torch::arange(count, torch::kInt64);

    Artifact images;
    images.set("images", pixels->finish());
    images.set("person", person);
    images.set("image_id", image_id);
    images.set_attr("layout", std::string("NCHW RGB uint8"));
    images.set_attr("size", size);

    Artifact attributes;
    attributes.set("scores", scores);
    attributes.set("person", person);
    attributes.set("image_id", image_id);
    attributes.set_attr("attribute_names", names);
    attributes.set_attr("rendered_attributes", rendered);
    attributes.set_attr("source", std::string("synthfaces"));
    ctx.info("{} faces of {} persons at {}x{} px", count, persons, size, size);
    return {{"images", images}, {"attributes", attributes}};
  }
};

}  // namespace

FACET_REGISTER_STEP(SynthFacesStep);
