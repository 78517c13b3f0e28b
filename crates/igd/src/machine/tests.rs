use super::*;

#[test]
fn a_fresh_token_for_each_io_and_only_the_one_waited_for_is_taken() {
    let mut pending = Pending::default();
    let first = pending.start();
    let second = pending.start();
    assert_ne!(first, second);
    assert!(
        !pending.take(first),
        "an abandoned I/O's completion is not taken"
    );
    assert!(pending.take(second));
    assert!(!pending.is_waiting());
}

#[test]
fn a_child_input_goes_back_to_the_child_as_it_named_it() {
    let child = Token::new(3);
    let input = Input::Completed(child.within(7), Completed::Routed(None));
    let (tag, input) = input.for_child();
    assert_eq!(tag, Some(7));
    assert!(matches!(input, Input::Completed(t, _) if t == child));
    assert!(matches!(Input::Stop.for_child(), (None, Input::Stop)));
}

mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn token() -> impl Strategy<Value = Token> {
        (0u64..1 << 48).prop_map(Token)
    }

    proptest! {
        /// Three levels of machines under a leaf: each parent gets its tag and its child's
        /// token back.
        #[test]
        fn nested_tokens_split_back(leaf in any::<u16>(), tags in prop::array::uniform3(any::<u16>())) {
            let mut token = Token::new(leaf);
            for tag in tags {
                token = token.within(tag);
            }
            for tag in tags.iter().rev() {
                let (got, inner) = token.split();
                prop_assert_eq!(got, *tag);
                token = inner;
            }
            prop_assert_eq!(token, Token::new(leaf));
        }

        #[test]
        fn any_token_splits_without_panicking(token in token(), tag in any::<u16>()) {
            let (got, inner) = token.within(tag).split();
            prop_assert_eq!(got, tag);
            prop_assert_eq!(inner, token);
        }
    }
}
