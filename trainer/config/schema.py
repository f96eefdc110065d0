"""The run configuration's schema: one typed tree of dataclasses, a section per concern and a
docstring under every field (``xstilts train RECIPE --help-config`` prints them).

The tree is loaded from one recipe file plus CLI overrides (load.py) and checked (validate.py);
the resolved tree is written to the run folder and into every checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunConfig:
    name: str = "run"
    """Run name, shown in logs and reports."""
    out: str = "runs/run"
    """Run folder: resolved config, checkpoints, exports, TensorBoard logs, results."""
    seed: int = 42
    """Seed for weights of new heads, data order and task sampling (same on every rank)."""
    log_every: int = 10
    """Optimizer steps between logged scalars (losses are read from the device only then)."""
    until: str = ""
    """Stop after this phase (its name; empty = run every phase): e.g. pretrain once, then start
    other runs from its export with `model.name = <run>/<phase>/export`."""


@dataclass
class ModelConfig:
    name: str = "xlm-roberta-large"
    """Pretrained encoder: a hub id or a local folder. Empty: build from `init_config`."""
    tokenizer: str = ""
    """Tokenizer hub id or folder; empty means the same as `name`."""
    arch: str = "xlm-roberta"
    """Model type for encoders built from a config (`name` empty)."""
    init_config: dict = field(default_factory=dict)
    """Config fields of an encoder built from scratch (random weights, no download)."""
    dropout: float = -1.0
    """Hidden and attention dropout of the encoder (-1 keeps the pretrained config's); 0 makes 1 and N
    ranks train the same numbers (each rank draws its own dropout masks)."""
    retrieval_layer: int = 14
    """Hidden layer whose mean-pooled states embed sentences for retrieval (14 of 24 for XLM-R Large)."""
    attn_implementation: str = "sdpa"
    """Attention kernel passed to transformers (sdpa, eager)."""
    trust_remote_code: bool = False
    """Allow model code from the hub; off unless the recipe turns it on."""
    first_token_shortcut: bool = True
    """Sentence-level heads (classification, multiple choice) read only the first token: compute
    the last layer for that token alone (same loss and gradients, less work)."""
    direct_layers: bool = True
    """Run a BERT-family encoder's layers (BERT, RoBERTa, XLM-R, mBERT; ``sdpa`` attention) with
    the project's own loop over the layers' own modules: the same operations and random draws,
    without transformers' per-layer wrappers, which cost host time at every layer of every pass.
    Off: through the transformers model's forward. Compiled layers (``compile``) always run
    through their own call."""
    flat_params: bool = True
    """Train with the parameters of each span of encoder layers (``flat_layers``), of the
    embeddings and of each head in one flat tensor per weight-decay class: 16 tensors for XLM-R
    Large instead of 393, so ZeRO-2's per-tensor hooks and optimizer-step loops run 25x fewer
    times; same values and updates, and state dicts and exports keep the plain names. A resume
    uses the setting of the run that wrote the checkpoint."""
    flat_unit: str = "layer"
    """What one flat tensor (per weight-decay class) holds when ``flat_params`` is on. ``layer``:
    each span of ``flat_layers`` encoder layers, the embeddings and each head apart (16 tensors
    for XLM-R Large); a span's gradient is complete when its backward ends, so across ranks
    ZeRO-2 reduces it while the layers below still compute (``overlap_comm``). ``encoder``: the
    whole encoder in one (4 tensors with one head): fewer gradient hooks and optimizer-step loops,
    but no gradient is complete before backward ends, so nothing overlaps, and the encoder's
    gradients are held twice at that moment; for one GPU. A resume uses the setting of the run
    that wrote the checkpoint."""
    flat_layers: int = 4
    """With ``flat_unit = "layer"``: consecutive encoder layers per flat tensor (the last span may
    be shorter). Fewer tensors means fewer of ZeRO-2's gradient hooks and optimizer-step loops,
    while a span's gradient is still complete, and reduced, before the layers below it finish.
    XLM-R Large: 16 tensors with 4, 52 with 1. A span of 4 layers is 50M values, a quarter of the
    shipped configs' reduce bucket of 2e8, so ZeRO-2 starts its first reduction after 12 layers
    (after 15 with 1). A resume uses the setting of the run that wrote the checkpoint
    (``flat_layers = 1`` for a checkpoint older than this setting)."""
    compile: str = ""
    """torch.compile backend for the encoder layers in training ("" = off; "inductor" on a GPU).
    Each layer is compiled in place, so parameter names and checkpoints are unchanged; one
    compilation serves every layer, and lengths that change between batches get one kernel for
    dynamic lengths after the first change."""


@dataclass
class DataConfig:
    root: str = "data"
    """Root folder of local data files in their released formats."""
    source: str = "local"
    """Where task data comes from: `local` (files under `root`) or `hub` (datasets hub ids)."""
    cache_dir: str = ""
    """Tokenized-data cache; empty means `<run.out>/cache`."""
    synthetic: bool = False
    """Generate the synthetic multilingual suite under `root` before loading (the demo)."""
    synthetic_seed: int = 0
    """Seed of the generated suite: a fixed data set, whatever `run.seed` trains it with."""
    max_length: int = 128
    """Maximum tokens of sentence, pair, choice and tagging inputs."""
    qa_max_length: int = 384
    """Maximum tokens of an extractive-QA window."""
    task_max_length: dict = field(default_factory=dict)
    """Per-task maximum sequence length in training and evaluation, e.g. {bucc2018 = 512}; other
    tasks use `max_length` (QA `qa_max_length`)."""
    doc_stride: int = 128
    """Overlap of QA windows, in tokens."""
    max_query_length: int = 64
    """Maximum tokens of a QA question."""
    max_train_examples: int = 0
    """Cap on training examples per task (0 = all)."""
    max_eval_examples: int = 0
    """Cap on evaluation examples per task and language (0 = all)."""
    skip_bad_rows: bool = False
    """Count and log malformed rows instead of stopping at the first one."""
    group_by_length: bool = True
    """Form batches of similar length within a task (less padding)."""
    pad_to_multiple_of: int = -1
    """Round the padded length of training and evaluation batches up to a multiple (0 = off;
    -1 = auto: 8 on GPU, where every new batch shape costs kernel selection and allocation,
    off on CPU)."""
    prefetch: int = -1
    """Training steps whose batches are read, collated and (on GPU) pinned ahead, in a background
    thread (0 = off; -1 = auto: 1 on GPU, off on CPU, where the cores are busy with the step)."""
    mlm_probability: float = 0.15
    """Share of tokens masked for MLM tasks."""
    train_files: dict = field(default_factory=dict)
    """Training data of a task from elsewhere: {task = "path"} (relative to `root`; {lang} allowed)
    or {task = "hub:ID[:CONFIG[:SPLIT]]"}, e.g. {mlm = "/corpora/cc100.txt"}."""


@dataclass
class SamplerConfig:
    kind: str = "proportional"
    """Task sampling: proportional, capped, temperature or uniform."""
    cap: int = 0
    """Size cap for `capped` and `temperature` (0 = none)."""
    temperature: float = 1.0
    """T in p_i ∝ min(n_i, cap)^(1/T)."""
    fixed: dict = field(default_factory=dict)
    """Tasks drawn at a set rate regardless of size, e.g. {mlm_cc100 = 0.2}."""


@dataclass
class OptimConfig:
    lr: float = 1e-5
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.01
    """Weight decay, not applied to biases and LayerNorm weights."""
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    """AdamW betas."""
    eps: float = 1e-8
    """AdamW epsilon."""
    warmup_ratio: float = 0.1
    """Share of steps with linear warm-up, followed by linear decay to zero."""
    clip: float = 1.0
    """Gradient-norm clipping (the norm is the same on any number of ranks: float64 across ranks)."""
    fused: bool = True
    """torch's fused AdamW kernel (fast). Off: the per-operation loop, whose numbers on CPU do
    not depend on the rank count (the fused CPU kernel rounds the last elements of each ZeRO
    partition, after its last full vector, another way, so partition sizes change the numbers)."""


@dataclass
class DeepSpeedConfig:
    config: str = "ds_configs/zero2_bf16.json"
    """DeepSpeed JSON with engine knobs; its "auto" keys are filled from this recipe."""
    precision: str = "bf16"
    """bf16, fp16 (GPU only) or fp32."""
    micro_batch: int = 8
    """Examples per rank per forward pass; 0 = auto: the global batch over the ranks, one
    micro-batch per step (no accumulation)."""
    global_batch: int = 32
    """Examples per optimizer step over all ranks = micro_batch x accumulation x world size."""
    backend: str = ""
    """Process-group backend; empty: nccl on GPU, gloo on CPU."""
    timeout_s: int = 300
    """Timeout of every collective, the ZeRO gradient groups included."""
    watchdog_s: int = 900
    """A step (or evaluation) that makes no progress this long ends the job with an error."""
    cpu_shm_comm: bool = False
    """On CPU, use DeepSpeed's shared-memory all-reduce (JIT-compiled at first start)."""
    max_nonfinite_steps: int = 20
    """Consecutive skipped (non-finite) steps after which the run stops."""


@dataclass
class CheckpointConfig:
    every: int = 0
    """Optimizer steps between checkpoints (0 = at the end of each phase only)."""
    keep_last: int = 2
    """Checkpoints kept besides the best one."""
    resume: bool = False
    """Continue from the latest checkpoint of each unfinished phase."""


@dataclass
class TrackingConfig:
    tensorboard: bool = True
    """Write TensorBoard logs under `<run.out>/tb` (rank 0 only)."""


@dataclass
class PerturbConfig:
    kinds: list = field(default_factory=list)
    """Noise scored after the clean pass: char_swap, char_drop, char_insert, keyboard, word_drop, word_shuffle, code_switch (empty = off)."""
    rates: list = field(default_factory=lambda: [0.1])
    """Chance that each word is touched; every kind at every rate is one setting."""
    seed: int = 0
    """Seed of the noise (per example: the same sets whatever the ranks)."""
    lexicon: str = ""
    """concept<TAB>language<TAB>form file for code_switch (relative to data.root), e.g. synth/lexicon.tsv."""
    switch_to: str = "en"
    """Language that code-switched words are replaced with."""


@dataclass
class AttackConfig:
    kinds: list = field(default_factory=list)
    """Model-aware attacks scored after the clean pass: char_greedy, codemix_greedy, and their blind
    baselines random_char, random_codemix (random: both edit kinds) (empty = off)."""
    budgets: list = field(default_factory=lambda: [0.2])
    """Share of an example's words an attack may change, each in (0, 1]; every kind at every budget is one setting."""
    max_queries: int = 200
    """Model queries (candidates scored) per example, the unattacked example included."""
    seed: int = 0
    """Seed of the candidate edits and of `random` (per example: the same adversarial set on any number of ranks)."""
    lexicon: list = field(default_factory=list)
    """Bilingual dictionaries for codemix_greedy and random_codemix (and random's code-mix edits): MUSE pair files
    named SRC-TGT.txt and/or concept<TAB>language<TAB>form lexicons, relative to data.root."""
    targets: list = field(default_factory=list)
    """Languages a word may be code-mixed into (empty = every other language of the dictionary)."""
    max_examples: int = 1000
    """Examples attacked per task and language: the first N of the scored split (0 = all)."""
    chunk_examples: int = 16
    """Examples per attack work item, the unit spread over ranks."""
    min_f1: float = 0.5
    """QA: a prediction counts as right (and can be flipped) when its F1 reaches this."""


@dataclass
class EvalConfig:
    split: str = "test"
    """Split scored zero-shot after target fine-tuning."""
    fallback_split: str = "dev"
    """Split a task is scored on when `split` has no labels (XNLI, PAWS-X, UD-POS, PAN-X test files
    of the XTREME download; BUCC test); results.json names the split of every task ("" = none)."""
    languages: list = field(default_factory=list)
    """Restrict zero-shot evaluation to these languages (empty = all of each task)."""
    batch_size: int = 64
    """Examples per evaluation forward pass."""
    chunk_tokens: int = 32768
    """Tokens per evaluation work item, the unit spread over ranks (0 = one item per language)."""
    every: int = 0
    """Optimizer steps between English dev evaluations for model selection (0 = none)."""
    select_best: bool = False
    """Export the checkpoint with the best English dev score instead of the last."""
    patience: int = 0
    """Stop a phase after this many English dev evaluations without a new best (0 = never);
    needs `every` > 0 and `select_best`."""
    dev_subset: int = 0
    """English dev examples per task for model selection: the first N (0 = all); the same subset
    at every evaluation and on every rank."""
    n_best: int = 20
    """QA: candidate starts and ends searched per window."""
    max_answer_length: int = 30
    """QA: longest answer span in tokens."""
    perturb: PerturbConfig = field(default_factory=PerturbConfig)
    """Robustness: target sets scored again under noise (`xstilts evaluate`; see eval/perturb.py)."""
    attack: AttackConfig = field(default_factory=AttackConfig)
    """Robustness: model-aware adversarial attacks on the target sets (`xstilts evaluate`; see eval/attack.py)."""
    inline: bool = True
    """Score the exports in the training job; false leaves it to a separate `xstilts evaluate RUN`
    (the evaluator job of `--launcher slurm`)."""


@dataclass
class PhaseConfig:
    name: str = ""
    """Phase name; later phases name it in `init`."""
    tasks: list = field(default_factory=list)
    """Tasks trained in this phase (together, or one run per training group if `per_task`)."""
    init: str = "pretrained"
    """Start from `pretrained` or from an earlier phase's export."""
    per_task: bool = False
    """Target fine-tuning: one run per training group, each scored zero-shot on all languages."""
    epochs: float = 1.0
    """Passes over the (sampled) training data; ignored when `max_steps` > 0."""
    max_steps: int = 0
    """Optimizer steps of the phase (0 = from `epochs`)."""
    task_epochs: dict = field(default_factory=dict)
    """Per-task epochs of a per-task phase, e.g. {udpos = 10, tydiqa = 15}; others use `epochs`."""
    lr: float = 0.0
    """Peak learning rate of this phase (0 = optim.lr)."""
    task_lr: dict = field(default_factory=dict)
    """Per-task peak learning rate of a per-task phase, e.g. {mewslix = 2e-5}; it wins over `lr`.
    A target with a rate of its own (LAReQA 2e-5, Mewsli-X 1e-5) uses it where `lr` is 0."""
    global_batch: int = 0
    """Global batch of this phase (0 = deepspeed.global_batch)."""
    selection: bool = True
    """Model selection in this phase (eval.every, eval.patience, eval.select_best); false trains to
    the end and exports the last step (the paper's intermediate phase)."""
    task_batch: dict = field(default_factory=dict)
    """Per-task global batch of a per-task phase, e.g. {xquad = 16}; others use `global_batch`."""
    heads: str = "carry"
    """Heads when starting from an export: `carry` loads those whose name, kind and size match
    (an NLI head starts XNLI), `fresh` starts every head anew so every setting starts alike."""
    evaluate: bool = False
    """Score each task zero-shot on every language after this phase."""
    retrieval: list = field(default_factory=list)
    """Retrieval tasks (bucc2018, tatoeba) scored from this phase's export."""
    align: list = field(default_factory=list)
    """Parallel data (tatoeba, bucc2018, xnli, synth_tatoeba) on which the cross-lingual alignment of
    this phase's export is measured per layer (as `xstilts align`): <run>/align/<phase>-<task>/align.json."""


@dataclass
class SlurmConfig:
    """How `--launcher slurm` submits a run (train, demo) or every run of a sweep."""

    partition: str = ""
    """Partition (empty: the cluster's default)."""
    account: str = ""
    """Account the jobs are charged to (empty: your default)."""
    nodes: int = 1
    """Nodes of each training job."""
    gpus_per_node: int = 0
    """GPUs per node (--gpus-per-node); one rank per GPU. 0 on nodes without GPUs."""
    tasks_per_node: int = 0
    """Ranks per node (0: one per GPU, or 1 without GPUs)."""
    cpus_per_task: int = 0
    """CPUs per rank (0: the partition's default)."""
    mem: str = ""
    """Memory per node, e.g. "200G" (empty: the partition's default)."""
    time: str = ""
    """Time limit of a training job, e.g. "24:00:00" or "2-00:00:00" (empty: the partition's);
    a run that needs longer checkpoints, requeues and resumes."""
    signal_s: int = 300
    """Seconds before the time limit at which the ranks get SIGUSR1, write a checkpoint and
    requeue the job (Slurm may signal up to a minute earlier)."""
    requeue: bool = True
    """Requeue a job stopped by its time limit or pre-emption; it resumes from its checkpoint."""
    evaluate: str = "after"
    """Scoring: "after" (its own job once training succeeded), "watch" (its own job beside
    training, scoring each export as it appears) or "inline" (in the training job)."""
    eval_time: str = ""
    """Time limit of the evaluator job (empty: `time`)."""
    launcher: str = "srun"
    """How a job starts its ranks: "srun" (one task per rank) or "deepspeed" (one deepspeed
    launcher per node, given the allocation's hostfile)."""
    setup: list = field(default_factory=list)
    """Shell lines run before the ranks start, e.g. ["module load cuda/12.4"]."""
    options: list = field(default_factory=list)
    """Further sbatch options, e.g. ["--qos=low", "--constraint=a100"]."""


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    phases: list = field(default_factory=list)
    """The phase graph, in order (list of PhaseConfig)."""
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    """Submission to Slurm (`--launcher slurm`)."""


LIST_ITEM_TYPES = {("Config", "phases"): PhaseConfig}
