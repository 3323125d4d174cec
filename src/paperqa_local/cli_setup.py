"""The commands that say what runs where: `config` (the effective settings, GPU or CPU) and `models`."""

from __future__ import annotations

import argparse

from .cli_shared import print_json, settings_overrides


def cmd_config(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .llm import pick_gpu_layers

    settings = load_settings(home=args.data_dir, **settings_overrides(args))
    data = settings.for_display()
    layers, why = pick_gpu_layers(settings.n_gpu_layers)
    data["effective"] = {"n_gpu_layers": layers, "n_gpu_layers_reason": why}
    if args.device:
        from .embed import resolve_device

        device = resolve_device(settings.embed_device)
        data["effective"]["embed_device"] = device
        data["effective"]["embed_device_reason"] = (
            "set explicitly" if settings.embed_device != "auto" else
            ("torch sees a CUDA GPU" if device == "cuda" else "torch sees no CUDA GPU")
        )
    if args.json:
        print_json(data)
    else:
        from .config import Settings

        for name, value in data.items():
            if name == "effective":
                continue
            about = Settings.model_fields[name].description
            print(f"{name} = {value!r}\n    {about}")
        for name, value in data["effective"].items():
            print(f"effective {name} = {value!r}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .models import list_models, pull

    settings = load_settings(home=args.data_dir)
    if args.models_command == "pull":
        names = args.names or ["default", "fast"]
        for name in names:
            path = pull(name, settings.models_dir, force=args.force)
            print(f"{name}: {path} (sha256 verified)")
        return 0
    rows = list_models(settings.models_dir)
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            presets = f" [{', '.join(row['presets'])}]" if row["presets"] else ""
            state = "ready" if row["present"] else ("packages installed: run `paperqa-local models pull`" if row["packages_installed"] else "not installed: run `make models`")
            print(f"{row['name']}{presets}: {row['about']} — {state}\n    {row['file']}")
    return 0
