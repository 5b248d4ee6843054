//! `--devices`: the devices a run trains on, one data-parallel replica each.

use std::str::FromStr;

use thiserror::Error;

/// What `--devices` names: GPU indices of the chosen backend (`0,1,2,3`), or a number of
/// replicas on the CPU (`cpu:2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// Device indices of the cuda or wgpu backend, in order (the first is the run's own).
    Indices(Vec<usize>),
    /// This many replicas on the one CPU device of flex.
    Cpu(usize),
}

/// A `--devices` value that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceSpecError {
    /// Neither a list of indices nor `cpu:N`.
    #[error(
        "--devices {0:?}: expected device indices (`0,1,2,3`) or a number of CPU replicas (`cpu:2`)"
    )]
    Syntax(String),
    /// An index appears twice.
    #[error("--devices: device {0} is named twice")]
    Repeated(usize),
    /// The backend has no such kind of device.
    #[error("--devices {spec}: {reason}")]
    Unsupported {
        /// The value given.
        spec: String,
        /// Why the backend cannot use it.
        reason: &'static str,
    },
}

impl FromStr for DeviceSpec {
    type Err = DeviceSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || DeviceSpecError::Syntax(text.to_string());
        if let Some(count) = text.strip_prefix("cpu:") {
            return match count.parse::<usize>() {
                Ok(n) if n > 0 => Ok(DeviceSpec::Cpu(n)),
                _ => Err(syntax()),
            };
        }
        let indices = text
            .split(',')
            .map(|i| i.trim().parse::<usize>().map_err(|_| syntax()))
            .collect::<Result<Vec<_>, _>>()?;
        for (k, i) in indices.iter().enumerate() {
            if indices[..k].contains(i) {
                return Err(DeviceSpecError::Repeated(*i));
            }
        }
        Ok(DeviceSpec::Indices(indices))
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu(n) => write!(f, "cpu:{n}"),
            DeviceSpec::Indices(i) => {
                let list: Vec<String> = i.iter().map(|i| i.to_string()).collect();
                write!(f, "{}", list.join(","))
            }
        }
    }
}

impl DeviceSpec {
    /// The devices of a backend whose only device is the CPU (flex): `cpu:N` gives N replicas
    /// on it.
    #[cfg_attr(not(feature = "flex"), allow(dead_code))]
    pub fn cpu_devices<D: Clone>(&self, cpu: D) -> Result<Vec<D>, DeviceSpecError> {
        match self {
            DeviceSpec::Cpu(n) => Ok(vec![cpu; *n]),
            DeviceSpec::Indices(_) => Err(DeviceSpecError::Unsupported {
                spec: self.to_string(),
                reason: "the flex backend has one device, the CPU: use `--devices cpu:N` for N \
                         replicas",
            }),
        }
    }

    /// The devices of a GPU backend: index `i` becomes `device(i)`.
    #[cfg_attr(not(any(feature = "wgpu", feature = "cuda")), allow(dead_code))]
    pub fn gpu_devices<D>(&self, device: impl Fn(usize) -> D) -> Result<Vec<D>, DeviceSpecError> {
        match self {
            DeviceSpec::Indices(indices) => Ok(indices.iter().map(|&i| device(i)).collect()),
            DeviceSpec::Cpu(_) => Err(DeviceSpecError::Unsupported {
                spec: self.to_string(),
                reason: "a GPU backend takes device indices (`--devices 0,1`); `cpu:N` is for \
                         `--backend flex`",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_and_cpu_replicas_parse() {
        assert_eq!(
            "0,1,2,3".parse::<DeviceSpec>(),
            Ok(DeviceSpec::Indices(vec![0, 1, 2, 3]))
        );
        assert_eq!("1".parse::<DeviceSpec>(), Ok(DeviceSpec::Indices(vec![1])));
        assert_eq!("cpu:2".parse::<DeviceSpec>(), Ok(DeviceSpec::Cpu(2)));
        for bad in ["", "cpu:0", "cpu:x", "gpu:1", "0,,1", "-1"] {
            assert!(
                matches!(bad.parse::<DeviceSpec>(), Err(DeviceSpecError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!(
            "0,1,0".parse::<DeviceSpec>(),
            Err(DeviceSpecError::Repeated(0))
        );
        assert_eq!(DeviceSpec::Indices(vec![2, 0]).to_string(), "2,0");
    }

    #[test]
    fn each_backend_takes_its_kind_of_device() {
        assert_eq!(DeviceSpec::Cpu(3).cpu_devices('c'), Ok(vec!['c'; 3]));
        assert!(DeviceSpec::Indices(vec![0]).cpu_devices('c').is_err());
        assert_eq!(
            DeviceSpec::Indices(vec![1, 0]).gpu_devices(|i| i * 10),
            Ok(vec![10, 0])
        );
        let err = DeviceSpec::Cpu(2).gpu_devices(|i| i).unwrap_err();
        assert!(err.to_string().contains("--backend flex"), "{err}");
    }
}
