// bagnet-stylize: AdaIN style transfer of an image set (Stylized-ImageNet and its kin): each
// content image gets the style of a painting chosen by the seed and the image's path, written as
// PNG into a mirror of the content tree, with a manifest of which painting styled which image.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/tool_main.h"
#include "datasets/eval_dataset.h"
#include "lib/error.h"
#include "lib/interrupt.h"
#include "lib/provenance.h"
#include "lib/runtime.h"
#include "stylize/assign.h"
#include "stylize/run.h"

namespace st = bagnet::stylize;

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{
      "AdaIN style transfer of an image set (Huang & Belongie 2017), e.g. Stylized-ImageNet (Geirhos et al. "
      "2019).\n"
      "Exit codes: 0 all written, 1 error, 2 usage, 3 finished with unreadable images listed in "
      "skipped.txt,\n"
      "130/143 stopped by SIGINT/SIGTERM (run the same command to resume)."};
  st::StylizeOptions o;
  std::string shard, merge_dir;
  int threads = 0;
  bool quiet = false;
  app.add_option("--content", o.content,
                 "Content images: a folder (tree mirrored), image files/globs, or a list file");
  app.add_option("--styles", o.styles, "Folder of style images (paintings)");
  app.add_option("-o,--output-dir", o.output_dir, "Output folder: PNGs, manifest.csv/.json, skipped.txt");
  app.add_option("--vgg", o.vgg,
                 "vgg_normalised.pth (default: looked up in $BAGNET_WEIGHTS or ~/.cache/bagnet)");
  app.add_option("--decoder", o.decoder, "decoder.pth (default: looked up like --vgg)");
  auto* alpha = app.add_option("--alpha", o.alpha, "Degree of stylization, 0..1")->capture_default_str();
  auto* num = app.add_option("--num-styles", o.num_styles,
                             "Styles per content image (outputs NAME-stylized-STYLE.png)")
                  ->capture_default_str();
  auto* csize =
      app.add_option("--content-size", o.content_size, "Shorter side of the content images (0 = as is)")
          ->capture_default_str()
          ->check(CLI::Range(0, 1 << 16));
  auto* ssize = app.add_option("--style-size", o.style_size, "Shorter side of the style images (0 = as is)")
                    ->capture_default_str()
                    ->check(CLI::Range(0, 1 << 16));
  auto* crop =
      app.add_option("--crop", o.crop, "Centre crop of the content images after the resize (0 = none)")
          ->capture_default_str()
          ->check(CLI::Range(0, 1 << 16));
  app.add_option("--seed", o.seed, "Seed of the style assignment")->capture_default_str();
  app.add_option(
         "--preset", o.preset,
         "stylized-imagenet: content resized to 256 and centre-cropped to 224, paintings cropped to their "
         "centre square and shrunk to 224 (Lanczos), one style per image, alpha 1")
      ->check(CLI::IsMember({"stylized-imagenet"}));
  app.add_option("-d,--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("-t,--threads", threads, "Intra-op threads (0 = all cores)")->capture_default_str();
  app.add_option("-b,--batch-size", o.batch_size, "Content images of equal size stylized together")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--shard", shard, "i/n: only content images k with k mod n = i of the sorted list");
  app.add_flag("--overwrite", o.overwrite, "Redo outputs that exist (default: skip them, i.e. resume)");
  app.add_flag("--channels-last", o.channels_last, "Activations in channels-last layout");
  app.add_flag("--reference-ops", o.reference_ops,
               "The reference's layer order op by op (slower; for checks)");
  app.add_option("--merge", merge_dir, "Merge the shards' manifests of this output folder and exit");
  app.add_flag("-q,--quiet", quiet, "No progress bar");
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(threads);
  return bagnet::cli::guarded_main("bagnet-stylize", [&]() -> int {
    bagnet::cli::as_usage_error([&] {  // bad option values: exit 2
      if (!merge_dir.empty()) {
        if (!o.content.empty() || !o.styles.empty())
          throw bagnet::Error("--merge", "takes only the output folder");
      } else {
        if (o.content.empty()) throw bagnet::Error("--content", "required");
        if (o.styles.empty()) throw bagnet::Error("--styles", "required");
        if (o.output_dir.empty()) throw bagnet::Error("--output-dir", "required");
      }
      if (!(o.alpha >= 0.0 && o.alpha <= 1.0))
        throw bagnet::Error("--alpha " + std::to_string(o.alpha), "must be between 0 and 1");
      if (o.preset == "stylized-imagenet") {
        for (const auto* opt : {alpha, num, csize, ssize, crop})
          if (opt->count()) throw bagnet::Error(opt->get_name(), "is fixed by --preset stylized-imagenet");
        o.content_size = 256;
        o.crop = 224;
        o.style_size = 224;
        o.square_styles = true;
        o.alpha = 1.0;
        o.num_styles = 1;
      }
      if (!shard.empty()) std::tie(o.shard_index, o.shard_count) = bagnet::parse_shard(shard);
      o.progress = !quiet;
    });
    if (!merge_dir.empty()) {
      const std::size_t rows = st::merge_manifests(merge_dir);
      std::cout << merge_dir << "/manifest.csv: " << rows << " images\n";
      return 0;
    }
    const auto counts = st::run_stylize(o);
    if (counts.interrupted) {
      std::cerr << "bagnet-stylize: stopped by " << bagnet::interrupt_name() << ": " << counts.written
                << " images written and kept, " << counts.left << " left; run the same command to resume\n";
      return bagnet::interrupted_exit_code();
    }
    std::cerr << "bagnet-stylize: " << counts.written << " written, " << counts.already << " already done, "
              << counts.failed << " skipped; manifest " << counts.manifest << "\n";
    return counts.failed ? 3 : 0;
  });
}
