//! How host functions are declared: name, parameters, doc, and whether they only read or
//! mutate. Registration wraps every body with the shared behaviour, so no function can
//! forget it:
//! - Ctrl-C stops the script before the next native call;
//! - a mutation's arguments are checked first (its `prepare` hook), so bad input changes
//!   nothing and secrets it carries are known to the redactor before anything is shown;
//! - then the mutation is written to the run record before it runs, and in a dry run it is
//!   recorded in the plan and not run at all;
//! - client errors become catchable `#{kind, system, message, hint, status}` maps, redacted.

use std::any::TypeId;
use std::sync::Arc;
use std::time::Instant;

use rhai::{
    Dynamic, EvalAltResult, FnNamespace, FnPtr, FuncRegistration, ImmutableString, Map, Module,
    NativeCallContext, Position, RhaiFunc, Shared,
};

use super::redact::Redactor;
use super::runtime::interrupt;
use super::session::Session;
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

pub type RhaiResult = Result<Dynamic, Box<EvalAltResult>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Runs in a dry run too.
    Read,
    /// Recorded before it runs; in a dry run recorded and not run.
    Mutation,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Mutation => "mutation",
        }
    }
}

/// The Rhai type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Float,
    Bool,
    Map,
    Array,
    FnPtr,
    Secret,
    /// Any value; the body converts it.
    Any,
}

impl Ty {
    fn type_id(self) -> TypeId {
        match self {
            Ty::Str => TypeId::of::<ImmutableString>(),
            Ty::Int => TypeId::of::<rhai::INT>(),
            Ty::Float => TypeId::of::<rhai::FLOAT>(),
            Ty::Bool => TypeId::of::<bool>(),
            Ty::Map => TypeId::of::<Map>(),
            Ty::Array => TypeId::of::<rhai::Array>(),
            Ty::FnPtr => TypeId::of::<FnPtr>(),
            Ty::Secret => TypeId::of::<Secret>(),
            Ty::Any => TypeId::of::<Dynamic>(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Ty::Str => "String",
            Ty::Int => "int",
            Ty::Float => "float",
            Ty::Bool => "bool",
            Ty::Map => "Map",
            Ty::Array => "Array",
            Ty::FnPtr => "FnPtr",
            Ty::Secret => "Secret",
            Ty::Any => "?",
        }
    }
}

/// Why a native body stopped: a host error (converted for the script) or a script error
/// raised inside a callback (passed through untouched).
pub enum Fail {
    Host(Error),
    Script(Box<EvalAltResult>),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Host(e)
    }
}

impl From<Box<EvalAltResult>> for Fail {
    fn from(e: Box<EvalAltResult>) -> Fail {
        Fail::Script(e)
    }
}

type FnCallArgs<'a> = [&'a mut Dynamic];

type Body = dyn Fn(&mut Call) -> Result<Dynamic, Fail> + Send + Sync;

/// One native function as declared by a host module.
pub struct NativeFn {
    pub name: &'static str,
    pub params: Vec<(&'static str, Ty)>,
    pub returns: &'static str,
    pub effect: Effect,
    /// Markdown; the first line is the summary.
    pub doc: &'static str,
    body: Arc<Body>,
    /// For a mutation: checks the arguments and registers the secrets they carry, before
    /// the call is recorded; its value is what the mutation returns in a dry run.
    prepare: Option<Arc<Body>>,
}

impl NativeFn {
    pub fn read(
        name: &'static str,
        params: &[(&'static str, Ty)],
        returns: &'static str,
        doc: &'static str,
        body: impl Fn(&mut Call) -> Result<Dynamic, Fail> + Send + Sync + 'static,
    ) -> NativeFn {
        NativeFn {
            name,
            params: params.to_vec(),
            returns,
            effect: Effect::Read,
            doc,
            body: Arc::new(body),
            prepare: None,
        }
    }

    pub fn mutation(
        name: &'static str,
        params: &[(&'static str, Ty)],
        returns: &'static str,
        doc: &'static str,
        body: impl Fn(&mut Call) -> Result<Dynamic, Fail> + Send + Sync + 'static,
    ) -> NativeFn {
        NativeFn {
            effect: Effect::Mutation,
            ..NativeFn::read(name, params, returns, doc, body)
        }
    }

    /// Sets a mutation's `prepare` hook: it validates the arguments and registers any secret
    /// they carry before the call is recorded, and returns what the mutation gives in a dry
    /// run, so the rest of the script can go on.
    pub fn prepare(
        mut self,
        prepare: impl Fn(&mut Call) -> Result<Dynamic, Fail> + Send + Sync + 'static,
    ) -> NativeFn {
        self.prepare = Some(Arc::new(prepare));
        self
    }

    pub fn signature(&self, module: Option<&str>) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {}", t.name()))
            .collect();
        format!(
            "{}({}) -> {}",
            qualified(module, self.name),
            params.join(", "),
            self.returns
        )
    }
}

pub fn qualified(module: Option<&str>, name: &str) -> String {
    match module {
        Some(m) => format!("{m}::{name}"),
        None => name.to_string(),
    }
}

/// A group of native functions: a static module (`phala::get`) or, without a name, globals.
pub struct NativeModule {
    pub name: Option<&'static str>,
    pub doc: &'static str,
    pub fns: Vec<NativeFn>,
}

impl NativeModule {
    pub fn new(name: Option<&'static str>, doc: &'static str) -> NativeModule {
        NativeModule {
            name,
            doc,
            fns: Vec::new(),
        }
    }

    pub fn add(&mut self, f: NativeFn) -> &mut Self {
        self.fns.push(f);
        self
    }

    /// Builds the Rhai module, wrapping every body with the session's effects.
    pub fn to_rhai(&self, session: &Arc<Session>) -> Module {
        let mut module = Module::new();
        for f in &self.fns {
            let mut comments = vec![
                f.doc
                    .lines()
                    .map(|l| format!("/// {l}").trim_end().to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ];
            comments[0].push_str(&format!("\n///\n/// Effect: {}.", f.effect.as_str()));
            let mut info: Vec<String> = f
                .params
                .iter()
                .map(|(n, t)| format!("{n}: {}", t.name()))
                .collect();
            info.push(f.returns.to_string());
            let types: Vec<TypeId> = f.params.iter().map(|(_, t)| t.type_id()).collect();
            let name = qualified(self.name, f.name);
            let wrapped = wrap(
                session.clone(),
                name,
                f.effect,
                f.body.clone(),
                f.prepare.clone(),
            );
            // Methods on values (`cvm.public_url(443)`) need the global namespace too.
            FuncRegistration::new(f.name)
                .with_namespace(FnNamespace::Global)
                .with_params_info(info)
                .with_comments(comments)
                .set_into_module_raw(
                    &mut module,
                    types,
                    RhaiFunc::Pure {
                        func: Shared::new(wrapped),
                        has_context: true,
                        is_pure: true,
                        is_volatile: true,
                    },
                );
        }
        module
    }
}

fn wrap(
    session: Arc<Session>,
    name: String,
    effect: Effect,
    body: Arc<Body>,
    prepare: Option<Arc<Body>>,
) -> impl Fn(Option<NativeCallContext>, &mut FnCallArgs) -> RhaiResult + Send + Sync + 'static {
    move |ctx, args| {
        let ctx = ctx.expect("registered with a call context");
        let pos = ctx.call_position();
        if interrupt().is_set() {
            return Err(terminated(pos));
        }
        let mut call = Call { ctx, args };
        let result = match effect {
            Effect::Read => body(&mut call),
            Effect::Mutation => {
                let planned = match &prepare {
                    Some(prepare) => {
                        prepare(&mut call).map_err(|f| fail_to_rhai(f, &session.redactor, pos))?
                    }
                    None => Dynamic::UNIT,
                };
                let shown: Vec<String> = call.args.iter().map(|a| describe(a)).collect();
                session
                    .begin_mutation(&name, shown)
                    .map_err(|e| to_rhai(e, &session.redactor, pos))?;
                if session.dry_run() {
                    return Ok(planned);
                }
                let started = Instant::now();
                let result = body(&mut call);
                let error = result.as_ref().err().map(|f| match f {
                    Fail::Host(e) => session.redactor.redact(&e.to_string()),
                    Fail::Script(e) => session.redactor.redact(&e.to_string()),
                });
                session.end_mutation(&name, started, error);
                result
            }
        };
        result.map_err(|f| fail_to_rhai(f, &session.redactor, pos))
    }
}

fn fail_to_rhai(f: Fail, redactor: &Redactor, pos: Position) -> Box<EvalAltResult> {
    match f {
        Fail::Host(e) => to_rhai(e, redactor, pos),
        Fail::Script(e) => e,
    }
}

fn terminated(pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorTerminated("interrupted by Ctrl-C".into(), pos).into()
}

/// A host error as the script sees it: a map `catch (e)` can branch on. Interrupts are not
/// catchable.
pub fn to_rhai(e: Error, redactor: &Redactor, pos: Position) -> Box<EvalAltResult> {
    if e.kind == ErrorKind::Interrupted {
        return terminated(pos);
    }
    EvalAltResult::ErrorRuntime(error_map(&e, redactor).into(), pos).into()
}

pub fn error_map(e: &Error, redactor: &Redactor) -> Map {
    let mut map = Map::new();
    map.insert("kind".into(), e.kind.as_str().into());
    map.insert("system".into(), e.system.clone().into());
    map.insert("message".into(), redactor.redact(&e.message).into());
    map.insert(
        "hint".into(),
        e.hint
            .as_ref()
            .map_or(Dynamic::UNIT, |h| redactor.redact(h).into()),
    );
    map.insert(
        "status".into(),
        e.status.map_or(Dynamic::UNIT, Dynamic::from_int),
    );
    map
}

/// A short, redaction-friendly rendering of an argument for the run record and the plan.
pub fn describe(value: &Dynamic) -> String {
    if value.is::<Secret>() {
        return "***".into();
    }
    if let Some(s) = value.clone().try_cast::<ImmutableString>() {
        return format!("{:?}", s.as_str());
    }
    if let Some(map) = value.read_lock::<Map>() {
        let fields: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{k}: {}", describe(v)))
            .collect();
        return format!("#{{{}}}", fields.join(", "));
    }
    if let Some(items) = value.read_lock::<rhai::Array>() {
        let items: Vec<String> = items.iter().map(describe).collect();
        return format!("[{}]", items.join(", "));
    }
    if value.is::<FnPtr>() {
        return "<closure>".into();
    }
    value.to_string()
}

/// The arguments of one native call, with typed accessors whose errors name the parameter.
pub struct Call<'a, 'b, 'c> {
    pub ctx: NativeCallContext<'a>,
    pub args: &'b mut FnCallArgs<'c>,
}

impl Call<'_, '_, '_> {
    pub fn arg(&self, i: usize) -> &Dynamic {
        self.args[i]
    }

    pub fn str(&self, i: usize) -> String {
        self.args[i].clone().cast::<ImmutableString>().to_string()
    }

    pub fn int(&self, i: usize) -> i64 {
        self.args[i].as_int().expect("declared as int")
    }

    pub fn float(&self, i: usize) -> f64 {
        self.args[i].as_float().expect("declared as float")
    }

    pub fn bool(&self, i: usize) -> bool {
        self.args[i].as_bool().expect("declared as bool")
    }

    pub fn map(&self, i: usize) -> Map {
        self.args[i].clone().cast::<Map>()
    }

    pub fn array(&self, i: usize) -> rhai::Array {
        self.args[i].clone().cast::<rhai::Array>()
    }

    pub fn fn_ptr(&self, i: usize) -> FnPtr {
        self.args[i].clone().cast::<FnPtr>()
    }

    pub fn secret(&self, i: usize) -> Secret {
        self.args[i].clone().cast::<Secret>()
    }

    /// Calls a script closure passed to this function.
    pub fn call_closure(&self, f: &FnPtr, args: impl rhai::FuncArgs) -> RhaiResult {
        f.call_within_context::<Dynamic>(&self.ctx, args)
    }

    pub fn position(&self) -> Position {
        self.ctx.call_position()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::host::journal::Journal;

    fn engine_with(session: &Arc<Session>, ran: Arc<AtomicBool>) -> rhai::Engine {
        let mut m = NativeModule::new(Some("t"), "test");
        m.add(NativeFn::mutation(
            "change",
            &[],
            "()",
            "Changes things.",
            move |_| {
                ran.store(true, Ordering::SeqCst);
                Ok(Dynamic::UNIT)
            },
        ));
        let mut engine = rhai::Engine::new();
        engine.register_static_module("t", m.to_rhai(session).into());
        engine
    }

    #[test]
    fn a_mutation_that_cannot_be_recorded_does_not_run() {
        let session = Session::detached();
        session.replace_journal(Journal::failing());
        let ran = Arc::new(AtomicBool::new(false));
        let error = engine_with(&session, ran.clone())
            .run("t::change();")
            .unwrap_err();
        assert!(!ran.load(Ordering::SeqCst), "the mutation ran unrecorded");
        assert!(
            error.to_string().contains("cannot write the run record"),
            "{error}"
        );
    }

    #[test]
    fn a_recorded_mutation_runs() {
        let session = Session::detached();
        let ran = Arc::new(AtomicBool::new(false));
        engine_with(&session, ran.clone())
            .run("t::change();")
            .unwrap();
        assert!(ran.load(Ordering::SeqCst));
    }
}
