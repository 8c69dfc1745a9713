package raftfsm

import "cairn/cas"

// Model is what cairn knows of an MLflow model from its MLmodel file. The
// daemon parses the file before proposing the write, and the command
// carries the result, so that Apply never parses YAML.
type Model struct {
	RunID          string `json:"run_id,omitempty"`
	ArtifactPath   string `json:"artifact_path,omitempty"`
	ModelUUID      string `json:"model_uuid,omitempty"`
	ModelID        string `json:"model_id,omitempty"` // MLflow 3 logged models: m-<32 hex>
	Name           string `json:"name,omitempty"`     // MLflow 3 log_model(name=...)
	MLflowVersion  string `json:"mlflow_version,omitempty"`
	UTCTimeCreated string `json:"utc_time_created,omitempty"` // as written, e.g. "2026-11-27 21:43:35.476920"
	// CreatedUnixMilli is UTCTimeCreated parsed, or 0 when absent or
	// unparseable; model queries filter on it.
	CreatedUnixMilli int64 `json:"created_unix_milli,omitempty"`
	// Flavors maps a flavor name (python_function, xgboost, sklearn, ...)
	// to its fields as the YAML holds them (loader_module, python_version,
	// data, env, xgb_version, model_class, code, ...).
	Flavors map[string]map[string]any `json:"flavors,omitempty"`
	// Signature holds the JSON strings MLflow writes for inputs, outputs
	// and params; nil when the model has none.
	Signature             *Signature     `json:"signature,omitempty"`
	SavedInputExampleInfo map[string]any `json:"saved_input_example_info,omitempty"`
	// Extra keeps any other top-level fields (databricks_runtime,
	// metadata, model_size_bytes, ...), so nothing the file says is lost.
	Extra map[string]any `json:"extra,omitempty"`
	// EnvFiles maps the name of an environment file beside the MLmodel
	// (conda.yaml, python_env.yaml, requirements.txt) to its digest, once
	// that file is present. The state machine fills it in.
	EnvFiles map[string]cas.Digest `json:"env_files,omitempty"`
	// Error says why the file was not indexed (it did not parse, or was too
	// large); the other fields are then empty.
	Error string `json:"error,omitempty"`
}

// Signature is an MLflow model signature, each part a JSON string.
type Signature struct {
	Inputs  string `json:"inputs,omitempty"`
	Outputs string `json:"outputs,omitempty"`
	Params  string `json:"params,omitempty"`
}
