//! The one encoding of page <-> worker messages, used by both sides.
//!
//! A message is `{ msg: Uint8Array, bytes?: ArrayBuffer }`: `msg` is the [`Command`] or
//! [`Reply`] in bincode, which keeps every `f32`/`f64` bit for bit (JSON turns NaN and infinity
//! into `null` and then refuses to read the message back), and `bytes` is a file's contents,
//! transferred beside it rather than copied. Both buffers are transferred.
//!
//! One other message exists: `{ crashed: "<why>" }`, posted by the worker's JavaScript loader
//! (`assets/worker.js`) when the worker's wasm traps, since that wasm can no longer run to
//! encode anything. The page reads it as [`Reply::WorkerCrashed`].
//!
//! [`Command`]: super::Command
//! [`Reply`]: super::Reply

use bincode::Options;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Messages are small (byte payloads travel beside them); a bound keeps a corrupt length from
/// asking for gigabytes.
const MESSAGE_LIMIT: u64 = 256 << 20;

fn options() -> impl Options {
    bincode::DefaultOptions::new().with_limit(MESSAGE_LIMIT)
}

pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, String> {
    options().serialize(message).map_err(|e| e.to_string())
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    options().deserialize(bytes).map_err(|e| e.to_string())
}

#[cfg(target_arch = "wasm32")]
pub use js::{from_js, reply_from_js, to_js};

#[cfg(target_arch = "wasm32")]
mod js {
    use js_sys::{Array, Object, Reflect, Uint8Array};
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use wasm_bindgen::{JsCast, JsValue};

    use super::super::Reply;

    /// The object to `postMessage` and its transfer list. `bytes` (e.g. a file read by the page)
    /// is transferred as it is, without passing through wasm memory.
    pub fn to_js<T: Serialize>(
        message: &T,
        bytes: Option<Uint8Array>,
    ) -> Result<(Object, Array), String> {
        let encoded = Uint8Array::from(super::encode(message)?.as_slice());
        let object = Object::new();
        let transfer = Array::new();
        let set = |key: &str, value: &JsValue| {
            Reflect::set(&object, &key.into(), value).map_err(|e| format!("{e:?}"))
        };
        set("msg", &encoded)?;
        transfer.push(&encoded.buffer());
        if let Some(bytes) = bytes {
            set("bytes", &bytes.buffer())?;
            transfer.push(&bytes.buffer());
        }
        Ok((object, transfer))
    }

    /// Decode a received message and copy its byte payload into wasm memory.
    pub fn from_js<T: DeserializeOwned>(data: &JsValue) -> Result<(T, Option<Vec<u8>>), String> {
        let msg = Reflect::get(data, &"msg".into())
            .ok()
            .and_then(|m| m.dyn_into::<Uint8Array>().ok())
            .ok_or("a message without a body")?;
        let message = super::decode(&msg.to_vec())?;
        let bytes = Reflect::get(data, &"bytes".into())
            .ok()
            .filter(|b| !b.is_undefined() && !b.is_null())
            .map(|b| Uint8Array::new(&b).to_vec());
        Ok((message, bytes))
    }

    /// A reply from the worker, including its loader's crash report.
    pub fn reply_from_js(data: &JsValue) -> Result<(Reply, Option<Vec<u8>>), String> {
        if let Some(message) = Reflect::get(data, &"crashed".into())
            .ok()
            .and_then(|m| m.as_string())
        {
            return Ok((Reply::WorkerCrashed { message }, None));
        }
        from_js(data)
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::data::csv::{CsvKind, parse_csv};

    fn round_trip<T: Serialize + DeserializeOwned>(message: &T) -> T {
        decode(&encode(message).unwrap()).unwrap()
    }

    #[test]
    fn non_finite_floats_survive_the_trip() {
        let reply = Reply::Classification {
            pixels: vec![0, 255, 7],
            probabilities: vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.25],
        };
        let Reply::Classification { probabilities, .. } = round_trip(&reply) else {
            panic!("a classification comes back as a classification");
        };
        assert!(probabilities[0].is_nan());
        assert_eq!(probabilities[1..], [f32::INFINITY, f32::NEG_INFINITY, 0.25]);
    }

    #[test]
    fn failures_arrive_intact() {
        let bad_label = parse_csv(
            "t.csv",
            b"label,pixel0\nx,1\n",
            Some(CsvKind::Train),
            &mut |_| {},
        );
        let Err(csv_error) = bad_label else {
            panic!("a bad label is an error");
        };
        let replies = [
            Reply::Error(Failure::new(
                Operation::LoadData(DataRole::Train),
                Problem::Csv(Box::new(csv_error)),
            )),
            Reply::Error(Failure::needs(Operation::Classify, Prerequisite::Model)),
            Reply::Error(Failure::new(
                Operation::Train,
                Problem::Train(crate::training::events::TrainFailure::Diverged {
                    epoch: 1,
                    batch: 2,
                    loss: f64::INFINITY,
                }),
            )),
        ];
        for reply in replies {
            assert_eq!(round_trip(&reply), reply);
        }
    }

    #[test]
    fn model_metadata_survives_the_trip_single_or_ensemble() {
        use crate::model::Preset;
        use crate::model_file::{Ensemble, ModelMeta};
        let single = ModelMeta::new(Some(Preset::Tiny), Preset::Tiny.architecture(), None);
        let mut ensemble = single.clone();
        ensemble.ensemble = Some(Ensemble {
            others: vec![single.clone()],
            val_accuracy: Some(0.99),
            val_loss: None,
        });
        for meta in [single, ensemble] {
            let reply = Reply::ModelReady(Box::new(ModelInfo {
                source: ModelSource::Bundled,
                meta,
                layers: Vec::new(),
                parameters: 7,
            }));
            assert_eq!(round_trip(&reply), reply);
        }
    }

    #[test]
    fn commands_round_trip_and_garbage_is_an_error() {
        let command = Command::Activations {
            image: ImageRef::Pixels(vec![1; 784]),
        };
        assert_eq!(round_trip(&command), command);
        let combine = Command::CombineModels {
            file_name: "e.bpk".into(),
            parts: vec![("a.bpk".into(), 10), ("b.bpk".into(), 20)],
        };
        assert_eq!(round_trip(&combine), combine);
        assert!(decode::<Command>(&[0xff; 9]).is_err());
        assert!(decode::<Reply>(&[]).is_err());
    }
}
