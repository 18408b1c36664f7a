// bagnet-train: train or fine-tune a BagNet (or any registered network) on idx files
// (MNIST, Fashion-MNIST) or ImageNet-style class folders.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/tool_main.h"
#include "lib/error.h"
#include "lib/interrupt.h"
#include "lib/provenance.h"
#include "lib/runtime.h"
#include "training/training.h"

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{"Train a BagNet. Checkpoints (torch.load-compatible) after every epoch; --resume continues."};
  bagnet::TrainConfig c;
  int threads = 0;
  bool quiet = false;
  app.add_option("--data", c.data, "MNIST-style idx directory or ImageNet-style class folders")->required();
  app.add_option("--val-data", c.val_data, "Held-out class folders (idx directories use their t10k files)");
  app.add_option("-o,--output-dir", c.output_dir, "Checkpoints, config, log")->required();
  app.add_option("-m,--model", c.model, "Registered model, or 'bagnet' for the configurable BagNet below")
      ->capture_default_str();
  app.add_option("--in-channels", c.bagnet.in_channels, "Input channels (default: from the data)");
  app.add_option("--stem-width", c.bagnet.stem_width)->capture_default_str();
  app.add_option("--widths", c.bagnet.widths, "Per-stage widths")->capture_default_str();
  app.add_option("--blocks", c.bagnet.blocks, "Blocks per stage")->capture_default_str();
  app.add_option("--kernel3", c.bagnet.kernel3, "3x3 blocks at the start of each stage")
      ->capture_default_str();
  app.add_option("--strides", c.bagnet.strides, "Per-stage strides")->capture_default_str();
  app.add_option("--expansion", c.bagnet.expansion)->capture_default_str();
  app.add_option("--stem-bn-momentum", c.bagnet.stem_bn_momentum,
                 "Momentum of the stem's BatchNorm (reference BagNets: 0.001)")
      ->capture_default_str();
  app.add_option("--init", c.init, "Start from this checkpoint (fine-tuning)");
  app.add_flag("--new-head", c.new_head, "Re-initialise the classifier (another class count)");
  app.add_option("--image-size", c.image_size, "Class folders: resize + centre crop to this size");
  app.add_option("--mean", c.mean, "Normalisation mean per channel (default: from the data)");
  app.add_option("--std", c.std, "Normalisation std per channel (default: from the data)");
  app.add_option("--limit-train", c.limit_train, "Use only the first N training images");
  app.add_option("--limit-val", c.limit_val, "Use only the first N held-out images");
  app.add_option("--optimizer", c.optimizer)->check(CLI::IsMember({"sgd", "adamw"}))->capture_default_str();
  app.add_option("--lr", c.lr)->capture_default_str();
  app.add_option("--momentum", c.momentum)->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay)->capture_default_str();
  app.add_option("--schedule", c.schedule)
      ->check(CLI::IsMember({"cosine", "step", "constant"}))
      ->capture_default_str();
  app.add_option("--step-size", c.step_size, "Epochs per step (step schedule)")->capture_default_str();
  app.add_option("--step-gamma", c.step_gamma)->capture_default_str();
  app.add_option("--warmup-epochs", c.warmup_epochs)->capture_default_str();
  app.add_option("--epochs", c.epochs)->capture_default_str();
  app.add_option("-b,--batch-size", c.batch_size)->capture_default_str();
  app.add_option("--precise-bn", c.precise_bn,
                 "After each epoch, recompute BatchNorm statistics over this many training images")
      ->capture_default_str();
  app.add_option("--crop-padding", c.crop_padding, "Random crop with this much zero padding")
      ->capture_default_str();
  app.add_flag("--flip", c.flip, "Random horizontal flips");
  app.add_option("--seed", c.seed)->capture_default_str();
  app.add_flag("--resume", c.resume, "Continue the run in --output-dir");
  app.add_option("--stop-after", c.stop_after_epochs, "Stop after this many epochs in this invocation");
  app.add_option("-d,--device", c.device)->capture_default_str();
  app.add_option("-t,--threads", threads, "0 = all cores")->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "No progress bar");
  CLI11_PARSE(app, argc, argv);
  c.progress = !quiet;

  bagnet::init_runtime(threads);
  return bagnet::cli::guarded_main("bagnet-train", [&]() -> int {
    const auto r = bagnet::train(c);
    if (r.interrupted_epoch) {
      std::cerr
          << "bagnet-train: stopped by " << bagnet::interrupt_name() << ": " << r.completed_epochs
          << " epochs done and kept in " << c.output_dir << " (epoch " << r.interrupted_epoch
          << " was stopped; it is redone on resuming); run the same command with --resume to continue\n";
      return bagnet::interrupted_exit_code();
    }
    if (!r.epochs.empty()) {
      const auto& last = r.epochs.back();
      std::cout << nlohmann::json{{"completed_epochs", r.completed_epochs},
                                  {"checkpoint", r.checkpoint},
                                  {"val_accuracy", last.val_accuracy},
                                  {"train_loss", last.train_loss}}
                       .dump()
                << "\n";
    }
    return 0;
  });
}
