"""Training multimodal models: model assembly from specs, the trainer, checkpoints."""
