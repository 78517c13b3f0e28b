//! The service description (SCPD): a service's actions and state variables.
//!
//! The layer above reads it to learn which optional actions a gateway offers
//! (AddAnyPortMapping, GetListOfPortMappings, DeletePortMappingRange).

use xmltree::{Element, XMLNode};

use crate::error::Error;
use crate::xml::{self, Limits, child, children, missing, push_text, value};

#[cfg(test)]
mod tests;

/// Most actions in one SCPD.
pub const MAX_ACTIONS: usize = 256;
/// Most arguments of one action.
pub const MAX_ARGUMENTS: usize = 64;
/// Most state variables in one SCPD.
pub const MAX_STATE_VARIABLES: usize = 512;
/// Most allowed values of one state variable.
pub const MAX_ALLOWED_VALUES: usize = 256;

/// The namespace of service descriptions.
pub const SERVICE_NAMESPACE: &str = "urn:schemas-upnp-org:service-1-0";

/// A parsed service description.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scpd {
    /// `specVersion` (major, minor), when present and numeric.
    pub spec_version: Option<(u32, u32)>,
    /// `actionList`, in document order.
    pub actions: Vec<Action>,
    /// `serviceStateTable`, in document order.
    pub state_variables: Vec<StateVariable>,
}

/// An action the service offers.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// Its name, e.g. `AddPortMapping`.
    pub name: String,
    /// Its arguments, in order (the order SOAP requests must follow).
    pub arguments: Vec<Argument>,
}

/// Whether an argument goes to the service or comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `in`.
    In,
    /// `out`.
    Out,
}

/// An argument of an action.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argument {
    /// Its name, e.g. `NewExternalPort`.
    pub name: String,
    /// In or out.
    pub direction: Direction,
    /// The state variable that gives its type.
    pub related_state_variable: Option<String>,
}

/// A state variable: the type of arguments.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateVariable {
    /// Its name, e.g. `ExternalPort`.
    pub name: String,
    /// The `sendEvents` attribute (`yes` / `no`), when present.
    pub send_events: Option<bool>,
    /// `dataType`, e.g. `ui2` or `string`.
    pub data_type: String,
    /// `defaultValue`.
    pub default_value: Option<String>,
    /// `allowedValueList`.
    pub allowed_values: Vec<String>,
    /// `allowedValueRange`.
    pub allowed_range: Option<AllowedRange>,
}

/// `allowedValueRange`, values as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedRange {
    /// `minimum`.
    pub minimum: Option<String>,
    /// `maximum`.
    pub maximum: Option<String>,
    /// `step`.
    pub step: Option<String>,
}

impl Scpd {
    /// Parse a service description.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let root = xml::parse(bytes, &Limits::DESCRIPTION)?;
        if root.name != "scpd" {
            return Err(Error::UnexpectedRoot {
                expected: "scpd",
                found: root.name,
            });
        }
        let spec_version = xml::spec_version(&root);
        let mut actions = Vec::new();
        for a in child(&root, "actionList")
            .into_iter()
            .flat_map(|l| children(l, "action"))
        {
            if actions.len() == MAX_ACTIONS {
                return Err(too_many("actions", MAX_ACTIONS));
            }
            actions.push(parse_action(a)?);
        }
        let mut state_variables = Vec::new();
        for v in child(&root, "serviceStateTable")
            .into_iter()
            .flat_map(|l| children(l, "stateVariable"))
        {
            if state_variables.len() == MAX_STATE_VARIABLES {
                return Err(too_many("state variables", MAX_STATE_VARIABLES));
            }
            state_variables.push(parse_state_variable(v)?);
        }
        Ok(Scpd {
            spec_version,
            actions,
            state_variables,
        })
    }

    /// The action of that name.
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// Whether the service offers that action.
    pub fn has_action(&self, name: &str) -> bool {
        self.action(name).is_some()
    }

    /// The state variable of that name.
    pub fn state_variable(&self, name: &str) -> Option<&StateVariable> {
        self.state_variables.iter().find(|v| v.name == name)
    }

    /// Write the SCPD as XML (compact, default namespace).
    pub fn encode(&self) -> String {
        let mut root = xml::root_element("scpd", SERVICE_NAMESPACE, self.spec_version);
        let mut list = Element::new("actionList");
        for a in &self.actions {
            let mut ae = Element::new("action");
            push_text(&mut ae, "name", Some(&a.name));
            if !a.arguments.is_empty() {
                let mut args = Element::new("argumentList");
                for arg in &a.arguments {
                    let mut e = Element::new("argument");
                    push_text(&mut e, "name", Some(&arg.name));
                    let direction = match arg.direction {
                        Direction::In => "in",
                        Direction::Out => "out",
                    };
                    push_text(&mut e, "direction", Some(direction));
                    push_text(
                        &mut e,
                        "relatedStateVariable",
                        arg.related_state_variable.as_deref(),
                    );
                    args.children.push(XMLNode::Element(e));
                }
                ae.children.push(XMLNode::Element(args));
            }
            list.children.push(XMLNode::Element(ae));
        }
        root.children.push(XMLNode::Element(list));
        let mut table = Element::new("serviceStateTable");
        for v in &self.state_variables {
            let mut e = Element::new("stateVariable");
            if let Some(send) = v.send_events {
                e.attributes.insert(
                    "sendEvents".to_owned(),
                    if send { "yes" } else { "no" }.to_owned(),
                );
            }
            push_text(&mut e, "name", Some(&v.name));
            push_text(&mut e, "dataType", Some(&v.data_type));
            push_text(&mut e, "defaultValue", v.default_value.as_deref());
            if !v.allowed_values.is_empty() {
                let mut l = Element::new("allowedValueList");
                for allowed in &v.allowed_values {
                    push_text(&mut l, "allowedValue", Some(allowed));
                }
                e.children.push(XMLNode::Element(l));
            }
            if let Some(r) = &v.allowed_range {
                let mut re = Element::new("allowedValueRange");
                push_text(&mut re, "minimum", r.minimum.as_deref());
                push_text(&mut re, "maximum", r.maximum.as_deref());
                push_text(&mut re, "step", r.step.as_deref());
                e.children.push(XMLNode::Element(re));
            }
            table.children.push(XMLNode::Element(e));
        }
        root.children.push(XMLNode::Element(table));
        crate::write(&root)
    }
}

fn too_many(what: &'static str, limit: usize) -> Error {
    Error::TooMany { what, limit }
}

fn parse_action(element: &Element) -> Result<Action, Error> {
    let name = value(element, "name", "action/name")?.ok_or_else(|| missing("action/name"))?;
    let mut arguments = Vec::new();
    for a in child(element, "argumentList")
        .into_iter()
        .flat_map(|l| children(l, "argument"))
    {
        if arguments.len() == MAX_ARGUMENTS {
            return Err(too_many("arguments", MAX_ARGUMENTS));
        }
        let path = "action/argumentList/argument";
        let arg_name = value(a, "name", &format!("{path}/name"))?
            .ok_or_else(|| missing(&format!("{path}/name")))?;
        let direction = match value(a, "direction", &format!("{path}/direction"))?
            .map(|d| d.to_ascii_lowercase())
            .as_deref()
        {
            Some("in") => Direction::In,
            Some("out") => Direction::Out,
            _ => return Err(missing(&format!("{path}/direction"))),
        };
        arguments.push(Argument {
            name: arg_name,
            direction,
            related_state_variable: value(
                a,
                "relatedStateVariable",
                &format!("{path}/relatedStateVariable"),
            )?,
        });
    }
    Ok(Action { name, arguments })
}

fn parse_state_variable(element: &Element) -> Result<StateVariable, Error> {
    let path = "serviceStateTable/stateVariable";
    let field = |name: &str| value(element, name, &format!("{path}/{name}"));
    let name = field("name")?.ok_or_else(|| missing(&format!("{path}/name")))?;
    let data_type = field("dataType")?.ok_or_else(|| missing(&format!("{path}/dataType")))?;
    let send_events = element.attributes.get("sendEvents").and_then(|v| {
        match v.trim().to_ascii_lowercase().as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        }
    });
    let mut allowed_values = Vec::new();
    if let Some(list) = child(element, "allowedValueList") {
        for v in children(list, "allowedValue") {
            if allowed_values.len() == MAX_ALLOWED_VALUES {
                return Err(too_many("allowed values", MAX_ALLOWED_VALUES));
            }
            if let Some(text) = xml::text(v) {
                if text.len() > xml::MAX_VALUE {
                    return Err(Error::ValueTooLong {
                        path: format!("{path}/allowedValueList/allowedValue"),
                        limit: xml::MAX_VALUE,
                    });
                }
                allowed_values.push(text);
            }
        }
    }
    let allowed_range = match child(element, "allowedValueRange") {
        Some(r) => {
            let range = |name: &str| value(r, name, &format!("{path}/allowedValueRange/{name}"));
            Some(AllowedRange {
                minimum: range("minimum")?,
                maximum: range("maximum")?,
                step: range("step")?,
            })
        }
        None => None,
    };
    Ok(StateVariable {
        name,
        send_events,
        data_type,
        default_value: field("defaultValue")?,
        allowed_values,
        allowed_range,
    })
}
