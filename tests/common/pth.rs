//! Writes a PyTorch state_dict file (`torch.save` zip format, pickle protocol 2) from f32
//! tensors, so tests can check the `.pth` import path on the fixtures' weights without PyTorch.

use std::io::Write;
use std::path::Path;

/// Pickle opcodes used by `torch.save` for a state_dict.
mod op {
    pub const PROTO: u8 = 0x80;
    pub const GLOBAL: u8 = b'c';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const REDUCE: u8 = b'R';
    pub const MARK: u8 = b'(';
    pub const TUPLE: u8 = b't';
    pub const BINUNICODE: u8 = b'X';
    pub const BININT: u8 = b'J';
    pub const BINPERSID: u8 = b'Q';
    pub const NEWFALSE: u8 = 0x89;
    pub const SETITEMS: u8 = b'u';
    pub const STOP: u8 = b'.';
}

fn global(out: &mut Vec<u8>, module: &str, name: &str) {
    out.push(op::GLOBAL);
    out.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
}

fn text(out: &mut Vec<u8>, s: &str) {
    out.push(op::BINUNICODE);
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn int(out: &mut Vec<u8>, v: usize) {
    out.push(op::BININT);
    out.extend_from_slice(&(v as i32).to_le_bytes());
}

fn int_tuple(out: &mut Vec<u8>, values: &[usize]) {
    out.push(op::MARK);
    for &v in values {
        int(out, v);
    }
    out.push(op::TUPLE);
}

fn ordered_dict(out: &mut Vec<u8>) {
    global(out, "collections", "OrderedDict");
    out.push(op::EMPTY_TUPLE);
    out.push(op::REDUCE);
}

/// Writes `tensors` (name, shape, values) as a `.pth` state_dict at `path`.
pub fn write_pth(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let mut pickle = vec![op::PROTO, 2];
    ordered_dict(&mut pickle);
    pickle.push(op::MARK);
    for (index, (name, shape, values)) in tensors.iter().enumerate() {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}");
        text(&mut pickle, name);
        global(&mut pickle, "torch._utils", "_rebuild_tensor_v2");
        pickle.push(op::MARK);
        // Persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel).
        pickle.push(op::MARK);
        text(&mut pickle, "storage");
        global(&mut pickle, "torch", "FloatStorage");
        text(&mut pickle, &index.to_string());
        text(&mut pickle, "cpu");
        int(&mut pickle, values.len());
        pickle.push(op::TUPLE);
        pickle.push(op::BINPERSID);
        int(&mut pickle, 0);
        int_tuple(&mut pickle, shape);
        let strides: Vec<usize> = (0..shape.len())
            .map(|d| shape[d + 1..].iter().product())
            .collect();
        int_tuple(&mut pickle, &strides);
        pickle.push(op::NEWFALSE);
        ordered_dict(&mut pickle);
        pickle.push(op::TUPLE);
        pickle.push(op::REDUCE);
    }
    pickle.push(op::SETITEMS);
    pickle.push(op::STOP);

    let file = std::fs::File::create(path).expect("create .pth");
    let mut zip = zip::ZipWriter::new(file);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(&pickle).unwrap();
    zip.start_file("archive/byteorder", stored).unwrap();
    zip.write_all(b"little").unwrap();
    for (index, (_, _, values)) in tensors.iter().enumerate() {
        zip.start_file(format!("archive/data/{index}"), stored)
            .unwrap();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        zip.write_all(&bytes).unwrap();
    }
    zip.start_file("archive/version", stored).unwrap();
    zip.write_all(b"3\n").unwrap();
    zip.finish().unwrap();
}
