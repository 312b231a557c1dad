//! A tool's typed result written as JSON text the way the SDK's `Json` writes it, without
//! the tree of values in between.
//!
//! The SDK reads a `Json<T>` result with `serde_json::to_value` and writes that value twice
//! (as the text block and as `structuredContent`). Building the tree costs an allocation per
//! key and string, and dropping it as many again: most of what a small typed result costs
//! on the direct path. [`object_text`] writes the same bytes in one pass for the kinds of
//! values results are made of, and declines (`None`) everything else, which then takes the
//! SDK's own road through `to_value`: the bytes are the SDK's either way.
//!
//! What `to_value` does, and this writer with it: object members sorted by key, the last
//! value of a repeated key kept, map keys read by serde_json's own key rules, `f32` widened
//! to `f64`, non-finite floats `null`. What it declines: integers of 128 bits, byte strings,
//! tuple and struct enum variants, serde_json's own raw values and numbers, any error, and
//! everything when the build's serde_json reads values otherwise (its `preserve_order`
//! feature keeps insertion order, `arbitrary_precision` keeps an `f32`'s own digits; another
//! crate of the build may turn either on).

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// `T` as JSON text, byte for byte as `serde_json::to_value(T)` writes, when it is an object
/// of the kinds above; `None` otherwise (write it through `to_value`).
///
/// A `T` whose `Serialize` declines here is serialised a second time by the caller's
/// fallback; `Serialize` implementations are not expected to have side effects.
pub(crate) fn object_text<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    if !*READS_AS_WRITTEN_HERE {
        return None;
    }
    let mut out = Vec::with_capacity(128);
    value.serialize(Writer { out: &mut out }).ok()?;
    if out.first() != Some(&b'{') {
        return None;
    }
    // Always UTF-8: every piece was written by serde_json or copied from a `&str`.
    String::from_utf8(out).ok()
}

/// Whether this build's serde_json reads values as this writer writes them: maps in key
/// order (not `preserve_order`'s insertion order) and an `f32` widened to an `f64` (not
/// `arbitrary_precision`'s shortest `f32` digits). A fact of the build, found once.
static READS_AS_WRITTEN_HERE: LazyLock<bool> = LazyLock::new(|| {
    let mut map = serde_json::Map::new();
    map.insert("b".to_owned(), serde_json::Value::Null);
    map.insert("a".to_owned(), serde_json::Value::Null);
    let sorted = map.keys().next().map(String::as_str) == Some("a");
    let widened = serde_json::to_value(0.1f32).map(|v| v.to_string()).ok()
        == serde_json::to_string(&f64::from(0.1f32)).ok();
    sorted && widened
});

/// Names serde_json gives its own types' serialisation (raw values, arbitrary-precision
/// numbers), which `to_value` reads in its own way.
const SERDE_JSON_PRIVATE: &str = "$serde_json::private::";

/// Why the writer stopped: the value is one it leaves to `to_value`.
#[derive(Debug)]
pub(crate) struct Declined;

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to serde_json::to_value")
    }
}

impl std::error::Error for Declined {}

impl ser::Error for Declined {
    fn custom<T: fmt::Display>(_: T) -> Declined {
        Declined
    }
}

/// Writes a scalar as serde_json writes it.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Declined> {
    serde_json::to_writer(out, value).map_err(|_| Declined)
}

/// Scalars serde_json writes as `to_value` would (integers whole, a `char` as a string).
macro_rules! scalars {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, v: $ty) -> Result<(), Declined> {
            write_json(self.out, &v)
        }
    )*};
}

/// Writes one value into `out`.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Declined;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Impossible<(), Declined>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Impossible<(), Declined>;

    scalars!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_char: char
    );
    fn serialize_i128(self, _: i128) -> Result<(), Declined> {
        Err(Declined)
    }
    fn serialize_u128(self, _: u128) -> Result<(), Declined> {
        Err(Declined)
    }
    /// Widened, as `to_value` stores every float as an `f64`.
    fn serialize_f32(self, v: f32) -> Result<(), Declined> {
        write_json(self.out, &f64::from(v))
    }
    /// serde_json writes a non-finite float as `null`, as `to_value` reads it.
    fn serialize_f64(self, v: f64) -> Result<(), Declined> {
        write_json(self.out, &v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Declined> {
        write_json(self.out, v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Declined> {
        Err(Declined)
    }
    fn serialize_none(self) -> Result<(), Declined> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Declined> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Declined> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Declined> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Declined> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Declined> {
        if name.starts_with(SERDE_JSON_PRIVATE) {
            return Err(Declined);
        }
        value.serialize(self)
    }
    /// `{"variant": value}`: one member, so no order to keep.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Declined> {
        self.out.push(b'{');
        write_json(self.out, variant)?;
        self.out.push(b':');
        value.serialize(Writer {
            out: &mut *self.out,
        })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Array<'a>, Declined> {
        self.out.push(b'[');
        Ok(Array {
            out: self.out,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Declined> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Array<'a>, Declined> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Impossible<(), Declined>, Declined> {
        Err(Declined)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Object<'a>, Declined> {
        Ok(Object::new(self.out, len.unwrap_or(0)))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Object<'a>, Declined> {
        if name.starts_with(SERDE_JSON_PRIVATE) {
            return Err(Declined);
        }
        Ok(Object::new(self.out, len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Impossible<(), Declined>, Declined> {
        Err(Declined)
    }
}

/// An array's elements, in order.
pub(crate) struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Declined> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        value.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn close(self) {
        self.out.push(b']');
    }
}

/// The three sequence traits, each an [`Array`].
macro_rules! array_traits {
    ($($name:ident :: $method:ident),*) => {$(
        impl ser::$name for Array<'_> {
            type Ok = ();
            type Error = Declined;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Declined> {
                self.element(value)
            }
            fn end(self) -> Result<(), Declined> {
                self.close();
                Ok(())
            }
        }
    )*};
}

array_traits!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

/// An object's members, each value written as it comes and the object written in key order
/// once it ends (as `to_value`'s sorted map holds them).
pub(crate) struct Object<'a> {
    out: &'a mut Vec<u8>,
    /// Each member's key and where its value sits in `values`.
    members: Vec<(Cow<'static, str>, std::ops::Range<usize>)>,
    values: Vec<u8>,
    key: Option<Cow<'static, str>>,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, len: usize) -> Object<'a> {
        // The length is the value's hint, which a `Serialize` may get wrong: room for a few
        // members up front, the rest as they come.
        let len = len.min(16);
        Object {
            out,
            members: Vec::with_capacity(len),
            values: Vec::with_capacity(32 * len),
            key: None,
        }
    }

    fn member<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Declined> {
        let start = self.values.len();
        value.serialize(Writer {
            out: &mut self.values,
        })?;
        self.members.push((key, start..self.values.len()));
        Ok(())
    }

    fn close(mut self) -> Result<(), Declined> {
        // Stable: of a key given more than once, the last value is the last of its run.
        self.members.sort_by(|a, b| a.0.cmp(&b.0));
        self.out.push(b'{');
        let mut first = true;
        for (at, (key, range)) in self.members.iter().enumerate() {
            if self.members.get(at + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            write_json(self.out, key.as_ref())?;
            self.out.push(b':');
            self.out.extend_from_slice(&self.values[range.clone()]);
        }
        self.out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Declined;
    /// The key as `to_value` reads a map key (its own rules: strings, chars, integers, bools,
    /// unit variants, newtypes of them; anything else fails), read by `to_value` itself.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Declined> {
        /// A map of `key` alone, so that `to_value` reads the key as a key.
        struct Alone<'k, K: ?Sized>(&'k K);
        impl<K: Serialize + ?Sized> Serialize for Alone<'_, K> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeMap as _;
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(self.0, &())?;
                map.end()
            }
        }
        match serde_json::to_value(Alone(key)) {
            Ok(serde_json::Value::Object(map)) => {
                let key = map.into_iter().next().map(|(key, _)| key).ok_or(Declined)?;
                self.key = Some(Cow::Owned(key));
                Ok(())
            }
            _ => Err(Declined),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Declined> {
        let key = self.key.take().ok_or(Declined)?;
        self.member(key, value)
    }
    fn end(self) -> Result<(), Declined> {
        if self.key.is_some() {
            return Err(Declined);
        }
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Declined;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Declined> {
        self.member(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Declined> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::ser::SerializeMap as _;
    use serde_json::{Value, json};

    use super::*;

    /// What the SDK's `Json` writes of `value`.
    fn sdk_text<T: Serialize>(value: &T) -> Option<String> {
        serde_json::to_value(value)
            .ok()
            .filter(Value::is_object)
            .map(|v| v.to_string())
    }

    /// Written here exactly as the SDK writes it, or declined.
    fn same<T: Serialize>(value: &T) -> bool {
        match object_text(value) {
            Some(text) => Some(&text) == sdk_text(value).as_ref(),
            None => true,
        }
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Order {
        id: u64,
        status: &'static str,
        read_by: Option<String>,
        weight: f32,
        nothing: f64,
        lines: Vec<Line>,
        kind: Kind,
        extra: HashMap<String, i64>,
        #[serde(flatten)]
        flat: BTreeMap<String, Value>,
        tag: Tag,
        unit: (),
        letter: char,
        pair: (i8, bool),
    }

    #[derive(Serialize)]
    struct Line {
        zeta: u8,
        alpha: i32,
    }

    #[derive(Serialize)]
    enum Kind {
        Parcel,
    }

    #[derive(Serialize)]
    struct Tag(String);

    fn order() -> Order {
        Order {
            id: 7,
            status: "shipped \"fast\"\n\u{1}é😀",
            read_by: None,
            weight: 0.1,
            nothing: f64::NAN,
            lines: vec![
                Line { zeta: 1, alpha: -2 },
                Line {
                    zeta: 255,
                    alpha: i32::MIN,
                },
            ],
            kind: Kind::Parcel,
            extra: HashMap::from([("b".to_owned(), 2), ("a".to_owned(), i64::MAX)]),
            flat: BTreeMap::from([
                ("Zed".to_owned(), json!({"y": [1.5, null], "x": "\\"})),
                ("aaa".to_owned(), json!(u64::MAX)),
            ]),
            tag: Tag("t".to_owned()),
            unit: (),
            letter: 'q',
            pair: (-1, true),
        }
    }

    #[test]
    fn a_typed_object_is_written_as_the_sdk_writes_it() {
        let order = order();
        let text = object_text(&order).expect("an object of supported kinds");
        assert_eq!(Some(text), sdk_text(&order));
        // Members in key order, nested objects too, the f32 widened, NaN null.
        let text = object_text(&order).unwrap_or_default();
        assert!(
            text.starts_with(r#"{"Zed":{"x":"\\","y":[1.5,null]},"aaa":"#),
            "{text}"
        );
        assert!(text.contains(r#""weight":0.10000000149011612"#), "{text}");
        assert!(text.contains(r#""nothing":null"#), "{text}");
        assert!(text.contains(r#"{"alpha":-2,"zeta":1}"#), "{text}");
    }

    /// A map that gives a key twice, as a hand-written `Serialize` may.
    struct Repeats;

    impl Serialize for Repeats {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("b", &1)?;
            map.serialize_entry("a", &2)?;
            map.serialize_entry("b", &3)?;
            map.serialize_entry("a", &json!({"k": 4}))?;
            map.end()
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        assert_eq!(
            object_text(&Repeats).as_deref(),
            Some(r#"{"a":{"k":4},"b":3}"#)
        );
        assert!(same(&Repeats));
    }

    #[test]
    fn what_to_value_reads_its_own_way_is_declined() {
        #[derive(Serialize)]
        enum Variant {
            Tuple(u8, u8),
            Struct { a: u8 },
        }
        #[derive(Serialize)]
        struct Holds<T> {
            value: T,
        }
        let raw = serde_json::value::to_raw_value(&json!({"b": 1, "a": 2})).unwrap();
        assert_eq!(object_text(&Holds { value: 1i128 }), None);
        assert_eq!(object_text(&Holds { value: u128::MAX }), None);
        // A byte slice is a sequence to serde (only `serialize_bytes` is declined).
        assert_eq!(
            object_text(&Holds { value: &b"ab"[..] }).as_deref(),
            Some(r#"{"value":[97,98]}"#)
        );
        assert_eq!(
            object_text(&Holds {
                value: serde_bytes_like()
            }),
            None
        );
        assert_eq!(
            object_text(&Holds {
                value: Variant::Tuple(1, 2)
            }),
            None
        );
        assert_eq!(
            object_text(&Holds {
                value: Variant::Struct { a: 1 }
            }),
            None
        );
        // A key `to_value` refuses (an `Option`, a struct) makes the whole value its error.
        assert_eq!(object_text(&BTreeMap::from([(Some("a"), 1)])), None);
        assert_eq!(sdk_text(&BTreeMap::from([(Some("a"), 1)])), None);
        assert_eq!(
            object_text(&Holds {
                value: BTreeMap::from([(Some("a"), 1)])
            }),
            None
        );
        // Integer and bool keys are strings to `to_value`, and here.
        for keyed in [
            object_text(&BTreeMap::from([(10, 2), (9, 3)])),
            object_text(&HashMap::from([(true, 2)])),
        ] {
            assert!(keyed.is_some());
        }
        assert!(same(&BTreeMap::from([(10, 2), (9, 3), (-1, 0)])));
        assert_eq!(
            object_text(&BTreeMap::from([(10, 2), (9, 3)])).as_deref(),
            Some(r#"{"10":2,"9":3}"#)
        );
        // A length hint a `Serialize` gets wrong is only a hint.
        struct Boasts;
        impl Serialize for Boasts {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(usize::MAX))?;
                map.serialize_entry("a", &1)?;
                map.end()
            }
        }
        assert_eq!(object_text(&Boasts).as_deref(), Some(r#"{"a":1}"#));
        // Keys that are strings to `to_value` are written as it writes them.
        #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
        enum Side {
            Left,
            Right,
        }
        let keyed = BTreeMap::from([(Side::Right, 1), (Side::Left, 2)]);
        assert_eq!(
            object_text(&keyed).as_deref(),
            Some(r#"{"Left":2,"Right":1}"#)
        );
        let chars = BTreeMap::from([('é', 1), ('a', 2)]);
        assert_eq!(object_text(&chars), sdk_text(&chars));
        assert_eq!(object_text(&Holds { value: raw }), None);
        // Not objects: the SDK's structured result for those.
        assert_eq!(object_text(&[1, 2]), None);
        assert_eq!(object_text(&"text"), None);
        assert_eq!(object_text(&Option::<Order>::None), None);
        // An object through `Some` and a newtype variant is one.
        assert!(object_text(&Some(Holds { value: 1 })).is_some());
        #[derive(Serialize)]
        enum Wrapped {
            Order(Holds<u8>),
        }
        let wrapped = Wrapped::Order(Holds { value: 1 });
        assert_eq!(object_text(&wrapped), sdk_text(&wrapped));
        assert_eq!(
            object_text(&wrapped).as_deref(),
            Some(r#"{"Order":{"value":1}}"#)
        );
    }

    /// Bytes as `serde_bytes` writes them.
    fn serde_bytes_like() -> impl Serialize {
        struct Bytes;
        impl Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(b"ab")
            }
        }
        Bytes
    }

    #[test]
    fn a_failing_serialize_is_declined() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(ser::Error::custom("no"))
            }
        }
        #[derive(Serialize)]
        struct Holds {
            value: Fails,
        }
        assert_eq!(object_text(&Holds { value: Fails }), None);
    }

    /// Any JSON value, nested a few levels.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<f32>().prop_map(|f| Value::from(f64::from(f))),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::vec(("[a-cA-C\"\\\\é]{0,3}", inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_object_is_written_as_the_sdk_writes_it(
            members in proptest::collection::vec(("[a-cA-C\"\\\\é]{0,3}", any_json()), 0..8)
        ) {
            let object = Value::Object(members.into_iter().collect());
            prop_assert_eq!(object_text(&object), sdk_text(&object));
        }

        #[test]
        fn any_typed_pair_list_is_written_as_the_sdk_writes_it(
            pairs in proptest::collection::vec(("[ab]{0,2}", any::<f32>(), any::<Option<i16>>()), 0..6)
        ) {
            // A map that repeats keys in any order, with values of several kinds.
            struct Pairs(Vec<(String, f32, Option<i16>)>);
            impl Serialize for Pairs {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut map = s.serialize_map(None)?;
                    for (key, float, small) in &self.0 {
                        map.serialize_entry(key, &(float, small))?;
                    }
                    map.end()
                }
            }
            let pairs = Pairs(pairs);
            prop_assert!(same(&pairs));
            prop_assert!(object_text(&pairs).is_some());
        }
    }
}
