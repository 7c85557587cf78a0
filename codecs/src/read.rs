//! A bounds-checked reader over a payload: every read either returns the value or says which
//! field ran past the end. No slice indexing on untrusted bytes elsewhere.

use crate::error::Reason;

/// Reads fields from the front of a payload.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `len` bytes; `what` names the field in the error.
    pub fn bytes(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], Reason> {
        let end = self
            .offset
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(Reason::Truncated {
                what,
                offset: self.offset,
            });
        };
        let slice = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(slice)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Reason> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.bytes(N, what)?);
        Ok(array)
    }

    /// The rest of the payload.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.offset..];
        self.offset = self.bytes.len();
        rest
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, Reason> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn i8(&mut self, what: &'static str) -> Result<i8, Reason> {
        Ok(i8::from_le_bytes(self.array(what)?))
    }

    pub fn u16_le(&mut self, what: &'static str) -> Result<u16, Reason> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub fn u16_be(&mut self, what: &'static str) -> Result<u16, Reason> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub fn i16_le(&mut self, what: &'static str) -> Result<i16, Reason> {
        Ok(i16::from_le_bytes(self.array(what)?))
    }

    pub fn u32_le(&mut self, what: &'static str) -> Result<u32, Reason> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u32_be(&mut self, what: &'static str) -> Result<u32, Reason> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub fn f32_le(&mut self, what: &'static str) -> Result<f32, Reason> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_names_what_ran_out() {
        let mut reader = Reader::new(&[0x01, 0x02, 0x03, 0x04, 0x05]);
        assert_eq!(reader.u16_le("a"), Ok(0x0201));
        assert_eq!(reader.u16_be("b"), Ok(0x0304));
        assert_eq!(reader.remaining(), 1);
        assert_eq!(
            reader.u32_le("counter"),
            Err(Reason::Truncated {
                what: "counter",
                offset: 4
            })
        );
        // a failed read consumes nothing
        assert_eq!(reader.u8("c"), Ok(0x05));
        assert!(reader.is_empty());
    }
}
